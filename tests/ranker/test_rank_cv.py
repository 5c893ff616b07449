"""`clickintent rank cv` on any table, the conversion model's storage, and the online shoppers figures."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from typer.testing import CliRunner

from clickintent.artifacts import CARD_FILE
from clickintent.cli.rank import rank_app
from clickintent.ranker.conversion_model import DEFAULT_CANDIDATES, MODEL_FILE, ConversionModel, TrainingConfig
from clickintent.ranker.cross_validation import online_shoppers_csv, run_online_shoppers
from clickintent.ranker.encoding import MatrixEncoder
from clickintent.ranker.tabular import TableError, infer_schema, parse_label
from clickintent.settings import load_settings

runner = CliRunner()
# One quick candidate keeps the synthetic runs to a second or two; the grid is exercised by
# the online shoppers test.
SMALL = TrainingConfig(candidates=(replace(DEFAULT_CANDIDATES[0], max_rounds=200, early_stopping_rounds=20),))


def mixed_table(rows: int = 800, seed: int = 3) -> pd.DataFrame:
    """Numeric, boolean, true/false text, categorical text, missing values, an identifier; a learnable label."""
    rng = np.random.default_rng(seed)
    amount = rng.gamma(2.0, 50.0, rows)
    plan = rng.choice(["basic", "silver", "gold", "platinum"], rows)
    mobile = rng.random(rows) < 0.5
    score = 0.03 * (amount - 100) + np.where(plan == "gold", 2.5, 0.0) + np.where(mobile, 0.8, -0.8) + rng.normal(0, 1, rows)
    converted = score > np.quantile(score, 0.7)
    noisy = rng.normal(size=rows)
    noisy[rng.random(rows) < 0.1] = np.nan  # missing values stay missing
    return pd.DataFrame(
        {
            "visitor_id": [f"v{index:05d}" for index in range(rows)],
            "amount": amount.round(2),
            "plan": plan,
            "is_mobile": mobile,
            "newsletter": np.where(rng.random(rows) < 0.5, "TRUE", "FALSE"),
            "noise": noisy,
            "converted": converted,
            "outcome": np.where(converted, "bought", "left"),
        }
    )


def invoke(*args: str):
    return runner.invoke(rank_app, ["cv", *args, "--threads", "1"])


def test_rank_cv_on_csv_writes_fold_figures(tmp_path: Path) -> None:
    table = tmp_path / "sessions.csv"
    mixed_table().to_csv(table, index=False)
    out = tmp_path / "reports" / "cv.json"

    result = invoke("--table", str(table), "--label", "converted", "--drop", "outcome", "--out", str(out), "--seed", "5")

    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["auc"] > 0.85  # the label is a noisy function of amount, plan and device
    assert 0.3 < report["average_precision"] <= 1.0
    assert report["micro_f1"] > 0.75
    assert len(report["folds"]) == 5
    assert sum(fold["n_test"] for fold in report["folds"]) == report["n_rows"] == 800
    assert all(fold["n_train"] + fold["n_test"] == 800 for fold in report["folds"])
    assert all(fold["best_iteration"] >= 0 and 0 < fold["auc"] <= 1 for fold in report["folds"])
    assert report["auc"] == pytest.approx(np.mean([fold["auc"] for fold in report["folds"]]))
    assert report["label"] == "converted"
    assert report["positive_rate"] == pytest.approx(0.3, abs=0.01)
    assert "0.5" in report["threshold_rule"]
    assert report["feature_kinds"] == {
        "amount": "numeric",
        "plan": "categorical",
        "is_mobile": "boolean",
        "newsletter": "boolean",
        "noise": "numeric",
    }
    assert report["n_features"] == 5
    assert "visitor_id" in report["ignored_columns"]  # identifier-like text is not a feature
    assert not [path for path in out.parent.iterdir() if path.name.startswith(".")]  # no temp files left


def test_rank_cv_on_parquet_with_positive_value_and_is_seeded(tmp_path: Path) -> None:
    table = tmp_path / "sessions.parquet"
    mixed_table().to_parquet(table, index=False)
    first, second = tmp_path / "a.json", tmp_path / "b.json"

    for out in (first, second):
        result = invoke(
            "--table",
            str(table),
            "--label",
            "outcome",
            "--positive",
            "bought",
            "--drop",
            "converted",
            "--drop",
            "visitor_id",
            "--out",
            str(out),
            "--folds",
            "3",
        )
        assert result.exit_code == 0, result.output

    report = json.loads(first.read_text())
    assert report["auc"] > 0.85
    assert len(report["folds"]) == 3
    assert report["positive"] == "bought"
    assert report["dropped_columns"] == ["converted", "visitor_id"]
    assert "visitor_id" not in report["feature_kinds"] and "converted" not in report["feature_kinds"]
    again = json.loads(second.read_text())
    assert [fold["auc"] for fold in again["folds"]] == [fold["auc"] for fold in report["folds"]]


def test_one_hot_encoding_gives_the_same_kind_of_result(tmp_path: Path) -> None:
    table = tmp_path / "sessions.csv"
    mixed_table().to_csv(table, index=False)
    out = tmp_path / "cv.json"
    result = invoke(
        "--table",
        str(table),
        "--label",
        "converted",
        "--drop",
        "outcome",
        "--out",
        str(out),
        "--categorical-encoding",
        "one_hot",
        "--folds",
        "3",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["categorical_encoding"] == "one_hot" and report["auc"] > 0.85


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda d: ["--table", str(d / "absent.csv"), "--label", "converted"], "table not found"),
        (
            lambda d: ["--table", str(d / "good.csv"), "--label", "bought"],
            "label column 'bought' not found; columns are: visitor_id, amount",
        ),
        (lambda d: ["--table", str(d / "good.csv"), "--label", "converted", "--drop", "nope"], "--drop column(s) not found: nope"),
        (lambda d: ["--table", str(d / "one_class.csv"), "--label", "converted"], "one class only"),
        (lambda d: ["--table", str(d / "broken.parquet"), "--label", "converted"], "cannot read"),
        (lambda d: ["--table", str(d / "good.csv"), "--label", "amount"], "not binary"),
        (lambda d: ["--table", str(d / "good.csv"), "--label", "outcome", "--positive", "maybe"], "equals --positive 'maybe'"),
        (lambda d: ["--table", str(d / "table.xlsx"), "--label", "converted"], "expected a .csv or .parquet"),
    ],
    ids=["missing-file", "no-label", "no-drop-column", "one-class", "unreadable", "non-binary", "absent-positive", "unknown-format"],
)
def test_bad_input_is_named_and_writes_nothing(tmp_path: Path, make_args, message: str) -> None:
    frame = mixed_table(rows=60)
    frame.to_csv(tmp_path / "good.csv", index=False)
    frame.assign(converted=True).to_csv(tmp_path / "one_class.csv", index=False)
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 this is not really parquet")
    (tmp_path / "table.xlsx").write_bytes(b"not a spreadsheet")
    out = tmp_path / "out" / "cv.json"
    out.parent.mkdir()
    out.write_text('{"previous": true}')

    result = runner.invoke(rank_app, ["cv", *make_args(tmp_path), "--out", str(out)])

    assert result.exit_code == 2, result.output
    assert message in result.output
    assert json.loads(out.read_text()) == {"previous": True}  # an earlier result survives
    assert [path.name for path in out.parent.iterdir()] == ["cv.json"]


def test_label_parsing_rules() -> None:
    assert parse_label(pd.Series(["TRUE", "FALSE", "true"], name="y")).tolist() == [1, 0, 1]
    assert parse_label(pd.Series([0, 1, 1], name="y")).tolist() == [0, 1, 1]
    assert parse_label(pd.Series([True, False], name="y")).tolist() == [1, 0]
    assert parse_label(pd.Series([3, 5, 3], name="y"), positive="5").tolist() == [0, 1, 0]
    assert parse_label(pd.Series([True, False], name="y"), positive="false").tolist() == [0, 1]
    with pytest.raises(TableError, match="2 missing value"):
        parse_label(pd.Series([1, None, None, 0], name="y"))


def test_type_inference_reads_text_numbers_and_forced_categoricals() -> None:
    frame = pd.DataFrame(
        {"n": ["1", "2.5", None], "region": [1, 2, 1], "flag": ["yes", "no", "yes"], "when": pd.to_datetime(["2024-01-01"] * 3)}
    )
    schema = infer_schema(frame, categorical=["region"])
    kinds = {column.name: column.kind.value for column in schema.columns}
    assert kinds == {"n": "numeric", "region": "categorical", "flag": "boolean"}
    assert schema.columns[1].categories == ("1", "2")
    assert "when" in schema.ignored
    matrix = MatrixEncoder.of(schema).encode_frame(
        pd.DataFrame({"n": ["4", None], "region": [2, 9], "flag": ["no", "yes"], "when": [None, None]})
    )
    assert matrix[0].tolist() == [4.0, 1.0, 0.0]
    assert np.isnan(matrix[1, 0]) and np.isnan(matrix[1, 1])  # missing number; unseen region -> missing


@pytest.mark.parametrize("encoding", ["native", "one_hot"])
def test_per_request_row_encoding_equals_frame_encoding(encoding: str) -> None:
    frame = mixed_table(rows=300).drop(columns=["converted", "outcome", "visitor_id"])
    schema = infer_schema(frame.iloc[:200], categorical_encoding=encoding)
    later = frame.iloc[200:].copy()
    later.loc[later.index[0], "plan"] = "diamond"  # unseen category
    later.loc[later.index[1], "newsletter"] = None
    later["newsletter"] = later["newsletter"].astype(object)
    records = later.to_dict(orient="records")
    del records[2]["amount"]  # a key absent from a request is a missing value
    encoder = MatrixEncoder.of(schema)
    expected = encoder.encode_frame(later.assign(amount=[value if index != 2 else np.nan for index, value in enumerate(later["amount"])]))

    np.testing.assert_array_equal(encoder.encode_rows(records), expected)


def test_saved_model_round_trips_without_pickle(tmp_path: Path) -> None:
    frame = mixed_table(rows=500)
    labels = frame.pop("converted").to_numpy()
    features = frame.drop(columns=["outcome"])
    model = ConversionModel.fit(features, labels, config=SMALL, seed=1, threads=1)
    target = tmp_path / "models" / "conversion"

    model.save(target, name="conversion", version="test", data_window={"start": "2024-01-01", "end": "2024-02-01"}, metrics={"auc": 0.9})
    loaded = ConversionModel.load(target, threads=1)

    assert sorted(path.name for path in target.iterdir()) == sorted([MODEL_FILE, CARD_FILE])
    raw = (target / MODEL_FILE).read_bytes()
    assert raw[:1] == b"{" and not raw.startswith(b"\x80")  # UBJSON object, not a pickle stream
    card = json.loads((target / CARD_FILE).read_text())
    assert card["name"] == "conversion" and card["metrics"] == {"auc": 0.9}
    assert card["data_window"] == {"start": "2024-01-01", "end": "2024-02-01"}
    assert {column["name"] for column in card["features"]["columns"]} == {"amount", "plan", "is_mobile", "newsletter", "noise"}
    assert xgb.Booster(model_file=str(target / MODEL_FILE)).num_boosted_rounds() == model.best_iteration + 1

    fresh = mixed_table(rows=200, seed=9).drop(columns=["converted", "outcome"])
    fresh.loc[0, "plan"] = "diamond"  # a category never seen in training is treated as missing
    np.testing.assert_array_equal(loaded.predict_proba(fresh), model.predict_proba(fresh))
    np.testing.assert_array_equal(loaded.predict(fresh), model.predict(fresh))
    np.testing.assert_array_equal(loaded.predict_proba_records(fresh.to_dict(orient="records")), model.predict_proba(fresh))

    # Saving again replaces the directory in one piece.
    model.save(target, name="conversion", version="test-2")
    assert json.loads((target / CARD_FILE).read_text())["version"] == "test-2"
    assert not [path for path in target.parent.iterdir() if path.name.startswith(".")]


@pytest.mark.slow
def test_online_shoppers_reaches_published_xgboost_figures(tmp_path: Path) -> None:
    """Published XGBoost: AUC 0.937, AP 0.754 (PMC10121810); targets AUC >= 0.93, AP >= 0.74."""
    # One XGBoost thread: on two cores shared with other work, two threads measured ~20x slower.
    settings = load_settings(environ={}, data_dir=tmp_path / "data", threads=1)
    if not online_shoppers_csv(settings).is_file():
        pytest.skip(
            f"online shoppers dataset absent at {online_shoppers_csv(settings)}; "
            "set CLICKINTENT_SHARED_DATASETS to the shared datasets directory"
        )

    result = run_online_shoppers(settings)

    written = json.loads((tmp_path / "data" / "reports" / "online_shoppers.json").read_text())
    assert written["n_rows"] == 12_330 and len(written["folds"]) == 5
    assert written["positive_rate"] == pytest.approx(1908 / 12330)
    assert written["auc"] >= 0.93, written["auc"]
    assert written["average_precision"] >= 0.74, written["average_precision"]
    assert written["micro_f1"] > 0.85  # 0.845 would be "never buys"
    assert result["auc"] == written["auc"]
