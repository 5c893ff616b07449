"""Raw events as day partitions: `generate --days` / `--append`, `load --append`, and a build over them."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from clickintent.cli.main import app
from clickintent.events.partitions import events_file, is_partitioned, partitions_dir, raw_event_files
from clickintent.features.dbt import run_dbt_build
from clickintent.features.mart_equality import compare_marts
from clickintent.settings import load_settings
from support.contract_frames import events_frame, products_frame

runner = CliRunner()
WORLD_EVENTS = "20000"


def _event_ids(raw_dir: Path) -> list[str]:
    files = [str(path) for path in raw_event_files(raw_dir)]
    return [row[0] for row in duckdb.sql(f"select event_id from read_parquet({files}) order by event_id").fetchall()]


def _generate(*args: str) -> None:
    result = runner.invoke(app, ["generate", "--events", WORLD_EVENTS, *args])
    assert result.exit_code == 0, result.output


def test_appended_days_are_the_days_a_longer_generation_writes(tmp_path: Path) -> None:
    _generate("--days", "10", "--data-dir", str(tmp_path / "appended"))
    before = len(_event_ids(tmp_path / "appended" / "raw"))
    _generate("--append", "--days", "2", "--data-dir", str(tmp_path / "appended"))
    _generate("--days", "12", "--data-dir", str(tmp_path / "at_once"))

    appended, at_once = tmp_path / "appended" / "raw", tmp_path / "at_once" / "raw"
    assert 0 < before < len(_event_ids(appended))
    assert _event_ids(appended) == _event_ids(at_once)
    for table in ("customers", "conversions", "tile_impressions"):
        assert pq.read_table(appended / f"{table}.parquet").equals(pq.read_table(at_once / f"{table}.parquet")), table
    days = sorted(path.name for path in partitions_dir(appended).iterdir())
    assert days[0] == "event_date=2026-01-05" and days[-1] == "event_date=2026-01-16"
    assert len(list(partitions_dir(appended).glob("event_date=2026-01-16/*.parquet"))) == 1


def test_append_without_a_partitioned_world_says_what_to_run(tmp_path: Path) -> None:
    _generate("--data-dir", str(tmp_path))  # the whole window, one file
    result = runner.invoke(app, ["generate", "--append", "--days", "1", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "clickintent generate --days N" in " ".join(result.output.split())
    assert events_file(tmp_path / "raw").is_file() and not is_partitioned(tmp_path / "raw")


@pytest.mark.slow
def test_a_build_over_day_partitions_equals_the_build_over_one_file(tmp_path: Path) -> None:
    _generate("--days", "20", "--data-dir", str(tmp_path / "days"))
    one_file = tmp_path / "one_file" / "raw"
    one_file.mkdir(parents=True)
    for table in ("products", "customers", "conversions", "tile_impressions"):
        (one_file / f"{table}.parquet").write_bytes((tmp_path / "days" / "raw" / f"{table}.parquet").read_bytes())
    files = [str(path) for path in raw_event_files(tmp_path / "days" / "raw")]
    duckdb.sql(f"copy (select * exclude (event_date) from read_parquet({files})) to '{one_file / 'events.parquet'}' (format parquet)")

    for name in ("days", "one_file"):
        result = run_dbt_build(load_settings(data_dir=tmp_path / name), quiet=True)
        assert result.success, result.summary()
    assert compare_marts(tmp_path / "days" / "marts", tmp_path / "one_file" / "marts") == {}


@pytest.fixture
def loaded(tmp_path: Path) -> Path:
    source = tmp_path / "first"
    source.mkdir()
    events_frame().to_csv(source / "events.csv", index=False)
    products_frame().to_csv(source / "products.csv", index=False)
    result = runner.invoke(app, ["load", str(source), "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    return tmp_path


def test_load_append_adds_a_batch_and_files_late_events_under_their_own_day(loaded: Path) -> None:
    later = loaded / "later"
    later.mkdir()
    events = events_frame().assign(
        event_id=["e4", "e5", "e6"],
        # the app's event arrives a day late: it belongs to 2026-01-31's partition
        event_ts=["2026-02-02T09:00:00Z", "2026-02-02T09:01:00Z", "2026-01-31T23:59:00Z"],
    )
    events.to_csv(later / "events.csv", index=False)
    raw = loaded / "data" / "raw"

    result = runner.invoke(app, ["load", str(later), "--append", "--data-dir", str(loaded / "data")])

    assert result.exit_code == 0, result.output
    assert not events_file(raw).exists()  # the one file was split into partitions first
    assert _event_ids(raw) == ["e1", "e2", "e3", "e4", "e5", "e6"]
    late = pq.read_table(next(partitions_dir(raw).glob("event_date=2026-01-31/batch-*.parquet")))
    assert late.column("event_id").to_pylist() == ["e6"]
    assert sorted(path.name for path in partitions_dir(raw).glob("event_date=2026-02-01/*.parquet")) == ["base.parquet"]


def test_load_append_refuses_other_tables_and_bad_rows_and_writes_nothing(loaded: Path) -> None:
    raw = loaded / "data" / "raw"
    with_products = loaded / "with_products"
    with_products.mkdir()
    events_frame().assign(event_id=["e7", "e8", "e9"]).to_csv(with_products / "events.csv", index=False)
    products_frame().to_csv(with_products / "products.csv", index=False)
    result = runner.invoke(app, ["load", str(with_products), "--append", "--data-dir", str(loaded / "data")])
    assert result.exit_code == 2
    assert "an append adds events only" in " ".join(result.output.split())

    bad = loaded / "bad"
    bad.mkdir()
    events_frame().assign(event_id=["e7", "e8", "e9"], platform=["web", "tv", "app"]).to_csv(bad / "events.csv", index=False)
    result = runner.invoke(app, ["load", str(bad), "--append", "--data-dir", str(loaded / "data")])
    assert result.exit_code == 2
    unwrapped = "".join(result.output.split())
    assert "events.csv,row2,field'platform'" in unwrapped

    assert events_file(raw).is_file() and not is_partitioned(raw)
    assert _event_ids(raw) == ["e1", "e2", "e3"]
