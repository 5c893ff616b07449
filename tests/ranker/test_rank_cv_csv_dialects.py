"""`clickintent rank cv` reads the CSV a user has: semicolon- or tab-separated, quoted headers,
and says what it detected; a file it cannot read is named."""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from clickintent.cli.rank import rank_app
from clickintent.ranker.conversion_model import DEFAULT_CANDIDATES, TrainingConfig
from clickintent.ranker.cross_validation import cross_validate_table

runner = CliRunner()
SMALL = TrainingConfig(candidates=(replace(DEFAULT_CANDIDATES[0], max_rounds=100, early_stopping_rounds=10),))


def bank_marketing_like(rows: int = 400, seed: int = 11) -> pd.DataFrame:
    """The columns of a bank-marketing export (age, job, balance, y as yes/no), with a learnable label."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 90, rows)
    job = rng.choice(["admin.", "blue-collar", "retired", "student"], rows)
    balance = rng.normal(1500, 800, rows).round(2)
    score = 0.02 * (balance - 1500) / 8 + np.where(job == "retired", 1.5, 0.0) + rng.normal(0, 1, rows)
    return pd.DataFrame({"age": age, "job": job, "balance": balance, "y": np.where(score > np.quantile(score, 0.8), "yes", "no")})


@pytest.mark.parametrize(
    ("separator", "said"), [(";", "delimiter ';' (semicolon)"), ("\t", "delimiter '\\t' (tab)")], ids=["semicolon", "tab"]
)
def test_rank_cv_reads_a_file_with_quoted_headers_and_says_what_it_detected(tmp_path: Path, separator: str, said: str) -> None:
    table = tmp_path / "bank.csv"
    bank_marketing_like().to_csv(table, index=False, sep=separator, quoting=csv.QUOTE_NONNUMERIC)
    assert table.read_text().startswith(f'"age"{separator}"job"')
    out = tmp_path / "cv.json"

    result = runner.invoke(
        rank_app, ["cv", "--table", str(table), "--label", "y", "--positive", "yes", "--out", str(out), "--threads", "1"]
    )

    assert result.exit_code == 0, result.output
    assert said in result.output and "quote '\"'" in result.output and "header row" in result.output and "UTF-8" in result.output
    report = json.loads(out.read_text())
    assert report["n_rows"] == 400 and report["feature_kinds"] == {"age": "numeric", "job": "categorical", "balance": "numeric"}


def test_the_detected_dialect_is_heard_by_the_caller(tmp_path: Path) -> None:
    table = tmp_path / "bank.csv"
    bank_marketing_like().to_csv(table, index=False, sep="|")
    heard: list[str] = []
    result = cross_validate_table(table, "y", positive="yes", folds=3, threads=1, config=SMALL, on_read=heard.append)
    assert result["n_features"] == 3
    assert heard == [f"{table}: delimiter '|' (pipe), no quotes seen, header row, UTF-8"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"age,job,y\n30,admin.,no\n41,caf\xe9,yes\n", "is not UTF-8: invalid byte at line 3"),
        (b"1,2,3\n4,5,6\n7,8,9\n", "has no header row"),
    ],
    ids=["latin1", "no-header"],
)
def test_a_file_that_cannot_be_read_is_named(tmp_path: Path, content: bytes, message: str) -> None:
    table = tmp_path / "export.csv"
    table.write_bytes(content)
    result = runner.invoke(rank_app, ["cv", "--table", str(table), "--label", "y", "--out", str(tmp_path / "cv.json")])
    assert result.exit_code == 2, result.output
    assert "export.csv" in result.output and message in " ".join(result.output.split())
    assert not (tmp_path / "cv.json").exists()


@pytest.mark.parametrize("suffix", [".csv.gz", ".csv.bz2", ".csv.xz"])
def test_rank_cv_reads_a_compressed_file(tmp_path: Path, suffix: str) -> None:
    table = tmp_path / f"bank{suffix}"
    bank_marketing_like().to_csv(table, index=False, sep=";")  # pandas compresses by the suffix
    out = tmp_path / "cv.json"

    result = runner.invoke(
        rank_app, ["cv", "--table", str(table), "--label", "y", "--positive", "yes", "--out", str(out), "--threads", "1"]
    )

    assert result.exit_code == 0, result.output
    assert "delimiter ';' (semicolon)" in result.output
    assert json.loads(out.read_text())["n_rows"] == 400


def test_a_zstd_file_without_the_zstandard_package_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "zstandard", None)  # importing it now raises ImportError
    table = tmp_path / "export.csv.zst"
    table.write_bytes(b"\x28\xb5\x2f\xfd")  # the zstd frame magic; never decompressed
    result = runner.invoke(rank_app, ["cv", "--table", str(table), "--label", "y", "--out", str(tmp_path / "cv.json")])
    assert result.exit_code == 2, result.output
    assert "export.csv.zst" in result.output and "pip install zstandard" in " ".join(result.output.split())
    assert not (tmp_path / "cv.json").exists()
