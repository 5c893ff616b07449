"""`rank cv`'s binary conversion model on any table: fit with early stopping on a validation split, predict, save/load.

It trains through the same `boosting.train_booster` as the Feast-trained rankers (tile_model,
conversion_family), with `boosting.TABLE_BOOSTING` as its defaults. Hyperparameters are chosen
honestly: a small grid of candidates is trained on the training part only, and the candidate with
the lowest validation log loss (each at its own early-stopping round) wins. The decision threshold
for hard predictions is 0.5 by default, or chosen on the same validation split. Nothing here ever
sees a test set.

Stored as `model.ubj` (XGBoost's own UBJSON format, trimmed to the best iteration) beside
`model_card.json` (features with their kinds and category vocabularies, threshold,
hyperparameters, metrics, data window). No pickle anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import train_test_split

from clickintent.artifacts import ModelCardError, atomic_directory, read_card, write_card
from clickintent.ranker.boosting import TABLE_BOOSTING, BoosterConfig, dmatrix, train_booster
from clickintent.ranker.encoding import MatrixEncoder
from clickintent.ranker.tabular import CategoricalEncoding, FeatureSchema, TableError, infer_schema

MODEL_FILE = "model.ubj"
__all__ = ["MODEL_FILE", "ConversionModel", "TrainingConfig", "DEFAULT_CANDIDATES", "choose_threshold"]
CARD_FORMAT = "clickintent-xgboost-binary/1"

ThresholdRule = Literal["max_micro_f1_on_validation", "fixed_0.5"]
THRESHOLD_RULE_TEXT: dict[str, str] = {
    "fixed_0.5": (
        "predict positive when p >= 0.5; micro-F1 over both classes of one binary label equals accuracy, "
        "which 0.5 maximises for probabilities fitted by log loss without class reweighting"
    ),
    "max_micro_f1_on_validation": (
        "predict positive when p >= t, with t chosen on the inner validation split (never the test fold) "
        "from 0.01..0.99 in steps of 0.01 to maximise micro-F1 (= accuracy) there"
    ),
}
# Threshold candidates for the validation search; a grid keeps the rule easy to state.
THRESHOLD_GRID = np.round(np.arange(0.01, 1.0, 0.01), 2)


# Depth x leaf weight is where tabular boosting is most sensitive; the rest of TABLE_BOOSTING
# (learning rate 0.05 with early stopping, 0.8 row/column subsampling) are conventional fixed choices.
GRID_SETTINGS = ("max_depth", "min_child_weight")
DEFAULT_CANDIDATES: tuple[BoosterConfig, ...] = tuple(
    replace(TABLE_BOOSTING, max_depth=depth, min_child_weight=weight) for depth in (3, 5) for weight in (1.0, 5.0)
)


@dataclass(frozen=True)
class TrainingConfig:
    """How `rank cv`'s model is chosen: the candidate boosters (each with its own stopping rule)
    and the validation split that early-stops them, picks one and sets the threshold."""

    candidates: tuple[BoosterConfig, ...] = DEFAULT_CANDIDATES
    # Share of the training rows held out (stratified) for early stopping, model selection and
    # the threshold, when the caller passes no validation set of its own.
    validation_fraction: float = 0.2
    # 0.5 by default: on online shoppers the validation-tuned threshold gave no better micro-F1
    # and adds a noisy choice.
    threshold_rule: ThresholdRule = "fixed_0.5"

    def __post_init__(self) -> None:
        if not self.candidates:
            raise ValueError("TrainingConfig needs at least one candidate booster")
        # The grid varies depth and leaf weight only, so the report and the card can state one
        # learning rate and one stopping rule for every candidate.
        shared = [{k: v for k, v in c.to_json().items() if k not in GRID_SETTINGS} for c in self.candidates]
        differing = sorted({key for settings in shared[1:] for key in settings if settings[key] != shared[0][key]})
        if differing:
            raise ValueError(
                f"TrainingConfig candidates may differ only in {', '.join(GRID_SETTINGS)}; they differ in {', '.join(differing)}"
            )

    def to_json(self) -> dict[str, Any]:
        return {
            "candidates": [candidate.to_json() for candidate in self.candidates],
            "validation_fraction": self.validation_fraction,
            "threshold_rule": self.threshold_rule,
        }


@dataclass
class ConversionModel:
    booster: xgb.Booster
    schema: FeatureSchema
    params: BoosterConfig
    best_iteration: int
    threshold: float
    threshold_rule: ThresholdRule
    # Validation figures of every candidate, for the card.
    selection: list[dict[str, Any]] = field(default_factory=list)
    # How it was trained (rows, seed, config), for the card.
    training: dict[str, Any] = field(default_factory=dict)
    # The card last written or read (empty for a model not yet saved).
    card: dict[str, Any] = field(default_factory=dict)
    # XGBoost threads for prediction; pinned per worker in serving.
    threads: int = 1

    # ---- training ----

    @classmethod
    def fit(
        cls,
        features: pd.DataFrame,
        labels: Sequence[int] | np.ndarray,
        *,
        validation: tuple[pd.DataFrame, Sequence[int] | np.ndarray] | None = None,
        config: TrainingConfig = TrainingConfig(),
        seed: int = 7,
        threads: int = 2,
        schema: FeatureSchema | None = None,
        categorical: Sequence[str] = (),
        categorical_encoding: CategoricalEncoding = "native",
    ) -> ConversionModel:
        """Train on `features`/`labels`; early-stop, select and set the threshold on `validation`.

        Without `validation`, a stratified `config.validation_fraction` of the rows is held out
        (seeded). The schema (kinds, category vocabularies) comes from the training rows only.
        """
        labels = np.asarray(labels).astype(np.int8)
        if validation is None:
            _require_both_classes(labels, "training labels", minimum=2)
            train_idx, valid_idx = train_test_split(
                np.arange(len(labels)), test_size=config.validation_fraction, stratify=labels, random_state=seed
            )
            train_features, train_labels = features.iloc[train_idx], labels[train_idx]
            valid_features, valid_labels = features.iloc[valid_idx], labels[valid_idx]
        else:
            train_features, train_labels = features, labels
            valid_features, valid_labels = validation[0], np.asarray(validation[1]).astype(np.int8)
        _require_both_classes(train_labels, "training split")
        _require_both_classes(valid_labels, "validation split")
        if schema is None:
            schema = infer_schema(train_features, categorical=categorical, categorical_encoding=categorical_encoding)
        if not schema.columns:
            raise TableError(f"no usable feature columns (ignored: {dict(schema.ignored)})")

        encoder = MatrixEncoder.of(schema)
        train_matrix = dmatrix(schema, encoder.encode_frame(train_features), train_labels, threads)
        valid_matrix = dmatrix(schema, encoder.encode_frame(valid_features), valid_labels, threads)

        selection: list[dict[str, Any]] = []
        best: tuple[float, xgb.Booster, BoosterConfig, int] | None = None
        for candidate in config.candidates:
            trained = train_booster(
                schema,
                train_matrix,
                valid_matrix,
                objective="binary:logistic",
                eval_metric="logloss",
                config=candidate,
                seed=seed,
                threads=threads,
            )
            trimmed, best_iteration = trained.booster, trained.best_iteration
            probabilities = trimmed.predict(valid_matrix)
            loss = float(log_loss(valid_labels, probabilities, labels=[0, 1]))
            selection.append(
                {
                    **candidate.tree_params(),
                    "best_iteration": best_iteration,
                    "validation_logloss": round(loss, 6),
                    "validation_auc": round(float(roc_auc_score(valid_labels, probabilities)), 6),
                }
            )
            if best is None or loss < best[0]:
                best = (loss, trimmed, candidate, best_iteration)
        assert best is not None  # TrainingConfig has at least one candidate
        _, booster, params, best_iteration = best

        valid_probabilities = booster.predict(valid_matrix)
        threshold = choose_threshold(valid_labels, valid_probabilities, config.threshold_rule)
        return cls(
            booster=booster,
            schema=schema,
            params=params,
            best_iteration=best_iteration,
            threshold=threshold,
            threshold_rule=config.threshold_rule,
            selection=selection,
            threads=threads,
            training={
                "n_train": int(len(train_labels)),
                "n_validation": int(len(valid_labels)),
                "positive_rate_train": round(float(train_labels.mean()), 6),
                "seed": seed,
                "config": config.to_json(),
            },
        )

    # ---- prediction ----

    @cached_property
    def encoder(self) -> MatrixEncoder:
        return MatrixEncoder.of(self.schema)

    def encode(self, features: pd.DataFrame) -> np.ndarray:
        return self.encoder.encode_frame(features)

    def dmatrix(self, matrix: np.ndarray) -> xgb.DMatrix:
        return dmatrix(self.schema, matrix, threads=self.threads)

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """P(positive) per row of a raw feature frame (same columns as in training)."""
        return self.booster.predict(self.dmatrix(self.encode(features)))

    def predict_proba_records(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """P(positive) for plain dict rows, encoded without pandas (the per-request path)."""
        return self.booster.predict(self.dmatrix(self.encoder.encode_rows(records)))

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """0/1 per row at the stored threshold."""
        return (self.predict_proba(features) >= self.threshold).astype(np.int8)

    # ---- storage ----

    def save(
        self,
        directory: Path,
        *,
        name: str,
        version: str = "1",
        data_window: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Path:
        """Write `model.ubj` and `model_card.json` into `directory`, replacing it atomically.

        `extra` adds keys to the card (for example the Feast feature service used); it may not
        overwrite the keys written here.
        """
        card = {
            "format": CARD_FORMAT,
            "name": name,
            "version": version,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "data_window": dict(data_window) if data_window else None,
            "model_file": MODEL_FILE,
            "xgboost_version": xgb.__version__,
            "features": self.schema.to_json(),
            "model_feature_names": self.schema.model_feature_names,
            "threshold": self.threshold,
            "threshold_rule": self.threshold_rule,
            "threshold_rule_text": THRESHOLD_RULE_TEXT[self.threshold_rule],
            "params": self.params.to_json(),
            "best_iteration": self.best_iteration,
            "selection": self.selection,
            "metrics": dict(metrics) if metrics else {},
            "training": self.training,
        }
        clashes = sorted(set(extra or {}) & set(card))
        if clashes:
            raise ValueError(f"extra card keys clash with the card's own: {', '.join(clashes)}")
        card.update(extra or {})
        with atomic_directory(Path(directory)) as staging:
            self.booster.save_model(str(staging / MODEL_FILE))
            write_card(staging, card)
        self.card = card
        return Path(directory)

    @classmethod
    def load(cls, directory: Path, *, threads: int = 1) -> ConversionModel:
        """A model written by `save`; ModelCardError when the folder, its card or its model file do not fit."""
        directory = Path(directory)
        card = read_card(
            directory,
            required_files=(MODEL_FILE,),
            required_fields=("model_file", "features", "params", "threshold"),
            expected={"format": CARD_FORMAT},
        )
        booster = xgb.Booster(params={"nthread": threads}, model_file=str(directory / card["model_file"]))
        schema = FeatureSchema.from_json(card["features"])
        if list(booster.feature_names or []) != schema.model_feature_names:
            raise ModelCardError(f"{directory}: the model's features do not match its card")
        return cls(
            booster=booster,
            schema=schema,
            params=BoosterConfig.from_json(card["params"], defaults=TABLE_BOOSTING),
            best_iteration=int(card["best_iteration"]),
            threshold=float(card["threshold"]),
            threshold_rule=card["threshold_rule"],
            selection=list(card.get("selection", [])),
            training=dict(card.get("training", {})),
            card=card,
            threads=threads,
        )


def choose_threshold(labels: np.ndarray, probabilities: np.ndarray, rule: ThresholdRule) -> float:
    if rule == "fixed_0.5":
        return 0.5
    if rule != "max_micro_f1_on_validation":
        raise ValueError(f"unknown threshold rule {rule!r}; known: {', '.join(THRESHOLD_RULE_TEXT)}")
    # Micro-F1 over both classes of a single binary label is accuracy; first best wins on ties.
    predictions = probabilities[None, :] >= THRESHOLD_GRID[:, None]
    accuracy = (predictions == labels[None, :].astype(bool)).mean(axis=1)
    return float(THRESHOLD_GRID[int(np.argmax(accuracy))])


def _require_both_classes(labels: np.ndarray, what: str, minimum: int = 1) -> None:
    positives = int(labels.sum())
    negatives = int(len(labels) - positives)
    if positives < minimum or negatives < minimum:
        raise TableError(f"the {what} needs at least {minimum} row(s) of each class; it has {positives} positive and {negatives} negative")
