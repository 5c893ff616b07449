"""One booster configuration: per-use defaults, and the training path every model shares."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from clickintent.ranker.boosting import CONVERSION_BOOSTING, TABLE_BOOSTING, TILE_BOOSTING, BoosterConfig, train_booster
from clickintent.ranker.conversion_model import DEFAULT_CANDIDATES
from clickintent.ranker.tabular import ColumnKind, FeatureColumn, FeatureSchema


def test_per_use_defaults_give_each_model_its_xgboost_parameters() -> None:
    tile = TILE_BOOSTING.xgboost_params("binary:logistic", "logloss", seed=7, threads=1)
    assert tile["max_cat_to_onehot"] == 1 and tile["max_depth"] == 6 and tile["learning_rate"] == 0.1
    conversion = CONVERSION_BOOSTING.xgboost_params("multi:softprob", "mlogloss", seed=7, threads=1, num_class=8)
    assert conversion["max_depth"] == 4 and conversion["min_child_weight"] == 5.0 and conversion["num_class"] == 8
    # `rank cv` keeps XGBoost's own categorical rule: the parameter is not sent at all.
    table = TABLE_BOOSTING.xgboost_params("binary:logistic", "logloss", seed=7, threads=1)
    assert "max_cat_to_onehot" not in table and table["learning_rate"] == 0.05
    assert [(c.max_depth, c.min_child_weight) for c in DEFAULT_CANDIDATES] == [(3, 1.0), (3, 5.0), (5, 1.0), (5, 5.0)]
    assert all((c.max_rounds, c.early_stopping_rounds) == (2000, 50) for c in DEFAULT_CANDIDATES)


def test_a_card_record_round_trips_and_unknown_settings_are_named() -> None:
    config = replace(TABLE_BOOSTING, max_depth=5)
    assert BoosterConfig.from_json(config.to_json()) == config
    assert BoosterConfig.from_json({"max_depth": 3}, defaults=TABLE_BOOSTING) == replace(TABLE_BOOSTING, max_depth=3)
    with pytest.raises(ValueError, match="unknown booster setting.*max_leaves"):
        BoosterConfig.from_json({"max_leaves": 8})


def test_training_stops_early_and_keeps_only_the_best_rounds() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 3)).astype(np.float32)
    y = (x[:, 0] + rng.normal(0, 0.5, 600) > 0).astype(np.int8)
    schema = FeatureSchema(columns=tuple(FeatureColumn(name, ColumnKind.NUMERIC) for name in ("a", "b", "c")))
    config = replace(TILE_BOOSTING, max_rounds=300, early_stopping_rounds=5)

    trained = train_booster(
        schema, (x[:400], y[:400]), (x[400:], y[400:]), objective="binary:logistic", eval_metric="logloss", config=config
    )

    assert trained.best_iteration + 1 < config.max_rounds
    assert trained.booster.num_boosted_rounds() == trained.best_iteration + 1 == trained.trees
