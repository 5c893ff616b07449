"""The production tile ranker and conversion model: stored without pickle, loaded, served per request."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from clickintent.artifacts import CARD_FILE, ModelCardError
from clickintent.cli.rank import rank_app
from clickintent.features.store import feature_store
from clickintent.ranker.conversion_family import FamilyConversionModel, load_conversion_model
from clickintent.ranker.layout import DERIVED_FEATURES
from clickintent.ranker.served import MODEL_FILE
from clickintent.ranker.tasks import CONVERSION_TASK, TILE_TASK
from clickintent.ranker.tile_model import TileRanker
from clickintent.ranker.training_sets import build_training_set, service_features
from clickintent.settings import Settings, load_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(ranker_trained_world: Settings) -> Settings:
    return ranker_trained_world


@pytest.fixture(scope="module")
def tile_test(world: Settings) -> pd.DataFrame:
    training_set = build_training_set(world, feature_store(world), "tile", TILE_TASK.table, TILE_TASK.production_service)
    return training_set.part("test").reset_index(drop=True)


def service_rows(frame: pd.DataFrame, keys: list[str]) -> list[dict]:
    """Rows as a service builds them from Feast's online response: plain values, lists, None."""
    rows = []
    for record in frame[[key for key in keys if key in frame.columns]].to_dict(orient="records"):
        row = {}
        for key, value in record.items():
            if isinstance(value, np.ndarray):
                value = value.tolist()
            elif isinstance(value, float) and np.isnan(value):
                value = None
            row[key] = value
        rows.append(row)
    return rows


def test_models_are_stored_as_ubj_with_a_model_card(world: Settings) -> None:
    for directory, service in (("tile_ranker", "tile_ranker_v2"), ("conversion", "conversion_v2")):
        path = world.models_dir / directory
        assert sorted(item.name for item in path.iterdir()) == [MODEL_FILE, CARD_FILE]
        assert (path / MODEL_FILE).read_bytes()[:1] == b"{"  # UBJSON object, not a pickle (b"\x80")
        card = json.loads((path / CARD_FILE).read_text())
        assert card["feature_service"] == service
        assert card["version"] and card["created_at"] and card["xgboost_version"]
        assert card["features"] == [f.name for f in service_features(feature_store(world), service)]
        assert card["feature_references"][0].startswith("customer_profile:")
        window = card["data_window"]
        assert window["train"]["to"] < window["validation"]["from"] <= window["validation"]["to"] < window["test"]["from"]
        assert set(card["metrics"]) == {"validation", "test"}
        assert card["training"]["threads"] == 1 and card["training"]["best_iteration"] >= 0
    tile_card = json.loads((world.models_dir / "tile_ranker" / CARD_FILE).read_text())
    assert {"macro_recall_at_1", "logloss"} <= set(tile_card["metrics"]["test"])
    assert tile_card["serving_position"] == 1


def test_loaded_ranker_scores_requests_exactly_as_the_batch_did(world: Settings, tile_test: pd.DataFrame) -> None:
    ranker = TileRanker.load(world.models_dir)
    assert ranker.feature_service == "tile_ranker_v2"
    assert ranker.feature_names == [f.name for f in service_features(feature_store(world), "tile_ranker_v2")]
    assert ranker.row_keys == [*ranker.feature_names, "product_id", "position"]
    predictions = pd.read_parquet(world.reports_dir / "predictions" / "tile_test.parquet")
    assert predictions[["impression_id", "position"]].equals(tile_test[["impression_id", "position"]])

    serving_rows = service_rows(tile_test, [key for key in ranker.row_keys if key != "position"])
    logged_rows = service_rows(tile_test, ranker.row_keys)

    np.testing.assert_array_equal(ranker.score(serving_rows), predictions["p_click_serving_position"].to_numpy(np.float32))
    np.testing.assert_array_equal(ranker.score(logged_rows), predictions["p_click_logged_position"].to_numpy(np.float32))
    # One request of a few candidates equals the same rows inside the batch.
    np.testing.assert_array_equal(ranker.score(serving_rows[100:130]), ranker.score(serving_rows)[100:130])
    assert ranker.score([]).shape == (0,)
    order = ranker.rank(serving_rows[:4])
    assert sorted(order) == [0, 1, 2, 3] and ranker.score(serving_rows[:4])[order[0]] == ranker.score(serving_rows[:4]).max()


def test_reasons_name_real_features_in_readable_text(world: Settings, tile_test: pd.DataFrame) -> None:
    ranker = TileRanker.load(world.models_dir)
    rows = service_rows(tile_test.head(200), [key for key in ranker.row_keys if key != "position"])
    reasons = ranker.reasons(rows, top_k=3)

    allowed = set(ranker.feature_names) | set(DERIVED_FEATURES) | {"product_id"}
    texts = []
    for row_reasons in reasons:
        assert 1 <= len(row_reasons) <= 3
        assert [r.contribution for r in row_reasons] == sorted((r.contribution for r in row_reasons), reverse=True)
        for reason in row_reasons:
            assert reason.feature.split(".")[0] in allowed and reason.feature != "position"
            assert reason.contribution > 0 and reason.value not in ("missing", "")
            texts.append(reason.text)
    assert not any("raised the score" in text for text in texts)  # every real feature has a template
    assert "does not hold this product yet" in texts
    # The cheaper approximate contributions name real features too, and mostly the same top one
    # (chance would be about one in the twenty-odd reason groups).
    approximate = ranker.reasons(rows, top_k=1, exact=False)
    assert all(reason.feature.split(".")[0] in allowed for row in approximate for reason in row)
    agree = np.mean([a[0].feature == e[0].feature for a, e in zip(approximate, reasons) if a and e])
    assert agree > 0.5


def test_conversion_model_round_trip_and_api(world: Settings) -> None:
    model = load_conversion_model(world.models_dir)
    assert isinstance(model, FamilyConversionModel) and model.feature_service == "conversion_v2"
    assert model.classes[0] == "none" and len(model.families) == 7
    training_set = build_training_set(world, feature_store(world), "conversion", CONVERSION_TASK.table, CONVERSION_TASK.production_service)
    test = training_set.part("test").reset_index(drop=True)
    predictions = pd.read_parquet(world.reports_dir / "predictions" / "conversion_test.parquet")

    probabilities = model.predict_proba(service_rows(test, model.row_keys))

    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(probabilities, predictions[[f"p_{name}" for name in model.classes]].to_numpy(np.float32))
    rows = service_rows(test.head(20), model.row_keys)
    chosen = model.predicted_families(rows)
    assert all(set(families) <= set(model.families) for families in chosen)
    family_p = model.family_probabilities(rows)
    assert all(all(p[f] >= model.threshold for f in families) for p, families in zip(family_p, chosen))
    reasons = model.reasons(rows, top_k=2, family="investing")
    assert len(reasons) == 20 and all(len(r) <= 2 for r in reasons)
    with pytest.raises(ValueError, match="unknown family 'boats'"):
        model.reasons(rows, family="boats")


def test_loading_a_missing_or_mismatched_model_fails_clearly(world: Settings, tmp_path: Path) -> None:
    with pytest.raises(ModelCardError, match=r"does not exist; run `clickintent rank train`"):
        TileRanker.load(tmp_path / "nowhere")
    copy = tmp_path / "models"
    shutil.copytree(world.models_dir, copy)
    card_path = copy / "tile_ranker" / CARD_FILE
    card = json.loads(card_path.read_text())

    card_path.write_text(json.dumps({**card, "format": "clickintent-tile-ranker/0"}))
    with pytest.raises(
        ModelCardError, match="has format 'clickintent-tile-ranker/0'; this version of clickintent reads 'clickintent-tile-ranker/1'"
    ):
        TileRanker.load(copy)

    layout = dict(card["layout"])
    layout["scalars"] = layout["scalars"][1:]  # a card that no longer describes the booster
    card_path.write_text(json.dumps({**card, "layout": layout}))
    with pytest.raises(ModelCardError, match="do not match its card"):
        TileRanker.load(copy)

    (copy / "conversion" / MODEL_FILE).unlink()
    with pytest.raises(ModelCardError, match="lacks the model file"):
        load_conversion_model(copy)


def test_rank_train_on_a_data_dir_without_marts_says_what_is_missing(tmp_path: Path) -> None:
    result = CliRunner().invoke(rank_app, ["train", "--data-dir", str(tmp_path / "data"), "--models-dir", str(tmp_path / "models")])
    assert result.exit_code == 2
    assert "fct_tile_impressions.parquet not found; run `clickintent build` first" in result.output
    assert not (tmp_path / "models").exists()
    assert load_settings(data_dir=tmp_path / "data").data_dir == (tmp_path / "data").resolve()


@pytest.mark.slow
def test_rank_train_alone_gives_the_models_the_stage_trained(
    feast_world: Settings, world: Settings, tile_test: pd.DataFrame, tmp_path_factory
) -> None:
    """`rank train` fetches each production service on its own; the stage trains on the union
    service's columns. Same rows, values, splits and seed: the same models, score for score."""
    from support.ranker_world import copy_world

    alone = copy_world(feast_world, tmp_path_factory.mktemp("rank_train_alone"))
    result = CliRunner().invoke(rank_app, ["train", "--data-dir", str(alone.data_dir), "--models-dir", str(alone.models_dir)])
    assert result.exit_code == 0, result.output
    assert "tile: " in result.output and "conversion: " in result.output
    staged, trained = TileRanker.load(world.models_dir), TileRanker.load(alone.models_dir)
    assert trained.card["layout"] == staged.card["layout"] and trained.card["metrics"] == staged.card["metrics"]
    rows = service_rows(tile_test, [key for key in staged.row_keys if key != "position"])
    np.testing.assert_array_equal(trained.score(rows), staged.score(rows))
    staged_conversion, trained_conversion = load_conversion_model(world.models_dir), load_conversion_model(alone.models_dir)
    assert trained_conversion.threshold == staged_conversion.threshold
    conversion_rows = service_rows(tile_test.drop_duplicates("customer_id").head(200), staged_conversion.row_keys)
    np.testing.assert_array_equal(trained_conversion.predict_proba(conversion_rows), staged_conversion.predict_proba(conversion_rows))
    training = json.loads((alone.reports_dir / "training.json").read_text())
    assert set(training["seconds"]) == {"tile", "conversion"} and training["tile"]["feature_service"] == "tile_ranker_v2"
