"""One XGBoost configuration and one training routine for every model of the ranker.

The tile ranker, the conversion model by family and `rank cv`'s binary model each take a
`BoosterConfig` (their defaults below) and train through `train_booster`: early stopping on the
validation rows, then the booster is trimmed to its best round, so what is stored and served is
exactly what was validated. One thread by default: on the 2-core target, multi-threaded XGBoost
under contention from other work measured 10-100x slower.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import xgboost as xgb

from clickintent.ranker.tabular import FeatureSchema

# The six hyperparameters of the trees themselves (what `rank cv`'s grid varies and its card records).
TREE_PARAMETERS = ("learning_rate", "max_depth", "min_child_weight", "subsample", "colsample_bytree", "reg_lambda")


@dataclass(frozen=True)
class BoosterConfig:
    """Tree hyperparameters and stopping rule (XGBoost names)."""

    max_depth: int = 6
    learning_rate: float = 0.1
    min_child_weight: float = 1.0
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    reg_lambda: float = 1.0
    max_bin: int = 256
    # 1: categorical splits partition the categories (product ids, taxonomy nodes) rather than
    # one-vs-rest, which is what lets a tree say "these products for that intent".
    # None: XGBoost's own default (one-hot below four categories).
    max_cat_to_onehot: int | None = 1
    max_rounds: int = 600
    early_stopping_rounds: int = 20

    def xgboost_params(self, objective: str, eval_metric: str, *, seed: int, threads: int, **extra: Any) -> dict[str, Any]:
        params = {
            "objective": objective,
            "eval_metric": eval_metric,
            "tree_method": "hist",
            "seed": seed,
            "nthread": threads,
            "max_depth": self.max_depth,
            "learning_rate": self.learning_rate,
            "min_child_weight": self.min_child_weight,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "reg_lambda": self.reg_lambda,
            "max_bin": self.max_bin,
        }
        if self.max_cat_to_onehot is not None:
            params["max_cat_to_onehot"] = self.max_cat_to_onehot
        params.update(extra)
        return params

    def tree_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in TREE_PARAMETERS}

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any], defaults: BoosterConfig | None = None) -> BoosterConfig:
        """A config from a card's (possibly partial) record, the rest from `defaults`."""
        unknown = sorted(set(data) - set(asdict(cls())))
        if unknown:
            raise ValueError(f"unknown booster setting(s): {', '.join(unknown)}")
        return replace(defaults or cls(), **data)


# Tile ranker: depth 6 at learning rate 0.1. Deeper-regularised or slower settings moved LogLoss
# and Recall@1 within noise on validation for up to 2.75x the trees, and the ablation trains seven
# models per run, so the faster setting is kept (docs/measurements.md, "Rankers").
TILE_BOOSTING = BoosterConfig(max_depth=6, learning_rate=0.1, min_child_weight=1.0)
# Conversion by family: shallower trees than the tile ranker (~35k training rows with a few
# thousand conversions).
CONVERSION_BOOSTING = BoosterConfig(max_depth=4, learning_rate=0.1, min_child_weight=5.0)
# `rank cv` on any table: learning rate 0.05 with patient early stopping, XGBoost's own
# categorical rule. Its depth and leaf weight are only the base: the grid of
# `conversion_model.DEFAULT_CANDIDATES` sets both for every candidate.
TABLE_BOOSTING = BoosterConfig(
    max_depth=4, learning_rate=0.05, min_child_weight=1.0, max_cat_to_onehot=None, max_rounds=2000, early_stopping_rounds=50
)


@dataclass
class TrainedBooster:
    booster: xgb.Booster
    best_iteration: int
    best_validation_score: float
    eval_metric: str
    seconds: float
    params: dict[str, Any]

    @property
    def trees(self) -> int:
        """Trees in the booster: rounds x classes for a multi-class objective."""
        return (self.best_iteration + 1) * int(self.params.get("num_class", 1))


def dmatrix(schema: FeatureSchema, matrix: np.ndarray, labels: np.ndarray | None = None, threads: int = 1) -> xgb.DMatrix:
    """The DMatrix of an encoded matrix: the schema's column names and types (native categoricals)."""
    return xgb.DMatrix(
        matrix,
        label=labels,
        feature_names=schema.model_feature_names,
        feature_types=schema.model_feature_types,
        enable_categorical=schema.has_categoricals,
        nthread=threads,
    )


def train_booster(
    schema: FeatureSchema,
    train: tuple[np.ndarray, np.ndarray] | xgb.DMatrix,
    validation: tuple[np.ndarray, np.ndarray] | xgb.DMatrix,
    *,
    objective: str,
    eval_metric: str,
    config: BoosterConfig = TILE_BOOSTING,
    seed: int = 7,
    threads: int = 1,
    query_ids: tuple[np.ndarray, np.ndarray] | None = None,
    **extra_params: Any,
) -> TrainedBooster:
    """Train with early stopping on `validation`; the returned booster ends at the best round.

    `train` / `validation` are (matrix, labels) or a DMatrix already built (a caller that trains
    several candidates on the same rows builds it once). `query_ids` (train, validation) group
    rows for learning-to-rank objectives; rows of a group must be contiguous.
    """
    started = time.perf_counter()
    train_matrix = train if isinstance(train, xgb.DMatrix) else dmatrix(schema, train[0], train[1], threads)
    validation_matrix = validation if isinstance(validation, xgb.DMatrix) else dmatrix(schema, validation[0], validation[1], threads)
    if query_ids is not None:
        train_matrix.set_info(qid=query_ids[0])
        validation_matrix.set_info(qid=query_ids[1])
    params = config.xgboost_params(objective, eval_metric, seed=seed, threads=threads, **extra_params)
    booster = xgb.train(
        params,
        train_matrix,
        num_boost_round=config.max_rounds,
        evals=[(validation_matrix, "validation")],
        early_stopping_rounds=config.early_stopping_rounds,
        verbose_eval=False,
    )
    best_iteration = int(booster.best_iteration)
    best_score = float(booster.best_score)
    trimmed = booster[: best_iteration + 1]
    trimmed.set_param({"nthread": threads})
    return TrainedBooster(
        booster=trimmed,
        best_iteration=best_iteration,
        best_validation_score=best_score,
        eval_metric=eval_metric,
        seconds=time.perf_counter() - started,
        params=params,
    )
