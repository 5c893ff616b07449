"""Conversion within 14 days by product family: one multi-class XGBoost model, served per request.

    model = load_conversion_model(settings.models_dir)   # validates <models_dir>/conversion/model_card.json
    model.classes                                        # ['none', then the data's families, sorted]
    model.predict_proba(rows)                            # (rows, classes) probabilities, rows sum to 1
    model.family_probabilities(rows)                     # [{family: P}, ...] without 'none'
    model.predicted_families(rows)                       # families at or above the stored threshold
    model.reasons(rows, top_k=3, family=None)            # reasons for `family` (default: the likeliest)

`multi:softprob` over the label mart's `label_product_family` ('none' or the family of the first
product opened in the window), chosen over one binary model per family by measurement
(`clickintent rank designs`): on validation the two are not distinguishable (paired bootstrap
95 % interval of the micro-F1 difference spans 0), and this is one artifact with one coherent
distribution (the families and 'none' sum to 1). Evaluation treats a row's
families as a set (`converted_product_families`); a family is predicted when its probability is at
least the card's `threshold`, chosen on the validation split to maximise micro-F1.

Rows are customer-level: the Feast features of the card's feature service (normally
`conversion_v2`) for the customer, plus `observation_point` (context known at prediction time:
`app_session_start` when the app asks, `web_session_end` right after a logged-in web visit).
Live-session substitutions are those described in clickintent.ranker.tile_model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from clickintent.events.contract import NO_PRODUCT_FAMILY
from clickintent.ranker.layout import FeatureLayout
from clickintent.ranker.reasons import Reason
from clickintent.ranker.served import LayoutModel, ModelCardError, save_layout_model
from clickintent.ranker.tabular import ColumnKind, FeatureColumn

CONVERSION_DIR = "conversion"
CONVERSION_CARD_FORMAT = "clickintent-conversion-by-family/1"
CONVERSION_OBJECTIVE = "multi:softprob"
NO_CONVERSION = NO_PRODUCT_FAMILY
CONVERSION_CONTEXT = (FeatureColumn("observation_point", ColumnKind.CATEGORICAL),)
SERVING_OBSERVATION_POINT = "app_session_start"


@dataclass
class FamilyConversionModel(LayoutModel):
    """A stored conversion model; `classes[0]` is 'none'."""

    directory_name = CONVERSION_DIR
    card_format = CONVERSION_CARD_FORMAT

    def __post_init__(self) -> None:
        super().__post_init__()
        classes = self.card.get("classes")
        if not classes or classes[0] != NO_CONVERSION:
            raise ModelCardError(f"a conversion card needs classes starting with {NO_CONVERSION!r}, got {classes!r}")
        self.classes: list[str] = list(classes)
        self.families: list[str] = self.classes[1:]
        self.threshold: float = float(self.card.get("threshold", 0.5))
        self._observation_column = self._column_index.get("observation_point")
        self._serving_point_code = float(
            next(
                (
                    c.categories.index(SERVING_OBSERVATION_POINT)
                    for c in self.layout.scalars
                    if c.name == "observation_point" and SERVING_OBSERVATION_POINT in c.categories
                ),
                np.nan,
            )
        )

    def matrix(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Encoded rows; `observation_point` defaults to app_session_start (the app asking)."""
        matrix = self.encode(rows)
        if self._observation_column is not None:
            column = matrix[:, self._observation_column]
            column[np.isnan(column)] = self._serving_point_code
        return matrix

    def predict_proba(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """(rows, classes) probabilities in `classes` order."""
        if not rows:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        return self.booster.inplace_predict(self.matrix(rows)).reshape(len(rows), len(self.classes))

    def family_probabilities(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, float]]:
        probabilities = self.predict_proba(rows)
        return [{family: float(p) for family, p in zip(self.families, row[1:])} for row in probabilities]

    def predicted_families(self, rows: Sequence[Mapping[str, Any]]) -> list[list[str]]:
        """Families with probability >= the stored threshold, likeliest first."""
        out = []
        for row in self.predict_proba(rows):
            chosen = [(p, family) for family, p in zip(self.families, row[1:]) if p >= self.threshold]
            out.append([family for _, family in sorted(chosen, reverse=True)])
        return out

    def reasons(
        self, rows: Sequence[Mapping[str, Any]], top_k: int = 3, family: str | None = None, *, exact: bool = True
    ) -> list[list[Reason]]:
        """Reasons why `family` (default: each row's likeliest family) is likely for each row.

        `exact`: TreeSHAP, or XGBoost's approximate contributions (see TileRanker.reasons)."""
        if not rows:
            return []
        if family is not None and family not in self.families:
            raise ValueError(f"unknown family {family!r}; the model knows {', '.join(self.families)}")
        matrix = self.matrix(rows)
        # (rows, classes, columns + bias)
        contributions = self.booster.predict(self.dmatrix(matrix), pred_contribs=True, approx_contribs=not exact, strict_shape=True)
        contributions = contributions.reshape(len(rows), len(self.classes), -1)[:, :, :-1]
        if family is None:
            probabilities = self.booster.inplace_predict(matrix).reshape(len(rows), len(self.classes))
            chosen = 1 + np.argmax(probabilities[:, 1:], axis=1)
        else:
            chosen = np.full(len(rows), self.classes.index(family))
        per_row = contributions[np.arange(len(rows)), chosen, :]
        return self.reasons_from_contributions(per_row, rows, matrix, top_k)


def load_conversion_model(models_dir: Path, *, threads: int = 1) -> FamilyConversionModel:
    """The conversion model in `<models_dir>/conversion/`; ModelCardError if missing or incompatible."""
    return FamilyConversionModel.load(models_dir, threads=threads)


def save_conversion_model(
    models_dir: Path, booster: Any, layout: FeatureLayout, *, classes: Sequence[str], threshold: float, **card_fields: Any
) -> Path:
    """Store the conversion model; `card_fields` are save_layout_model's (service, version, data window, metrics, training, extra)."""
    task = {
        "task": "product family of the first conversion within 14 days of an observation ('none' if none)",
        "objective": CONVERSION_OBJECTIVE,
        "label": "fct_conversion_labels.label_product_family (rows with label_window_complete only)",
        "classes": list(classes),
        "threshold": float(threshold),
        "threshold_rule": "a family is predicted when P(family) >= threshold; threshold chosen on the validation split to maximise micro-F1 over families",
        "serving_observation_point": SERVING_OBSERVATION_POINT,
    }
    return save_layout_model(models_dir, booster, layout, fmt=CONVERSION_CARD_FORMAT, name=CONVERSION_DIR, task=task, **card_fields)
