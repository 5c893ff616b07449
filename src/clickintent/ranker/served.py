"""What the stored tile ranker and conversion model share: the card, loading, encoding, reasons.

A stored model is a directory `<models_dir>/<name>/` with `model.ubj` (XGBoost's UBJSON, trimmed
to the early-stopping round) and `model_card.json` (format, version, feature service, Feast
feature references, the feature layout with category vocabularies, data window, metrics). No
pickle. Loading checks the card's format and that the booster's columns are the layout's, so a
model and a card that do not belong together fail at load time, not with wrong scores.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import xgboost as xgb

from clickintent.ranker.atomic import atomic_directory
from clickintent.ranker.feature_reasons import FEATURE_REASON_TEMPLATES
from clickintent.ranker.layout import FeatureLayout, RowEncoder
from clickintent.ranker.reasons import PathTreeShap, Reason, ReasonTemplates, format_value
from clickintent.ranker.tabular import ColumnKind

MODEL_FILE = "model.ubj"
CARD_FILE = "model_card.json"


class ModelCardError(ValueError):
    """A model directory that is missing, incomplete or made for another format/version."""


def read_card(directory: Path, expected_format: str) -> dict[str, Any]:
    directory = Path(directory)
    card_path = directory / CARD_FILE
    if not directory.is_dir():
        raise ModelCardError(f"no model directory {directory}: train it first (`clickintent rank train`)")
    if not card_path.is_file():
        raise ModelCardError(f"{directory} has no {CARD_FILE}: not a trained clickintent model (train with `clickintent rank train`)")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ModelCardError(f"{card_path} is not valid JSON: {error}") from error
    if card.get("format") != expected_format:
        raise ModelCardError(
            f"{card_path} has format {card.get('format')!r}; this version of clickintent reads {expected_format!r} (retrain the model)"
        )
    for key in ("version", "feature_service", "layout", "model_file"):
        if key not in card:
            raise ModelCardError(f"{card_path} lacks '{key}'")
    if not (directory / card["model_file"]).is_file():
        raise ModelCardError(f"{directory} lacks the model file {card['model_file']} named by its card")
    return card


def load_booster(directory: Path, card: Mapping[str, Any], layout: FeatureLayout, threads: int) -> xgb.Booster:
    booster = xgb.Booster(params={"nthread": threads}, model_file=str(Path(directory) / card["model_file"]))
    if list(booster.feature_names or []) != layout.model_columns:
        raise ModelCardError(f"{directory}: the booster's feature columns do not match its card's layout")
    return booster


def save_model_directory(directory: Path, booster: xgb.Booster, card: dict[str, Any]) -> Path:
    """Write booster and card into `directory`, replacing it in one rename."""
    with atomic_directory(Path(directory)) as staging:
        booster.save_model(str(staging / MODEL_FILE))
        (staging / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return Path(directory)


def card_base(fmt: str, name: str, version: str, service: str, layout: FeatureLayout) -> dict[str, Any]:
    return {
        "format": fmt,
        "name": name,
        "version": version,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model_file": MODEL_FILE,
        "xgboost_version": xgb.__version__,
        "feature_service": service,
        "feature_references": list(layout.feature_references),
        "features": list(layout.feast_features),
        "row_keys": layout.row_keys,
        "model_columns": layout.model_columns,
        "layout": layout.to_json(),
    }


@dataclass
class LayoutModel:
    """An XGBoost booster with the layout that feeds it (shared by both served models)."""

    booster: xgb.Booster
    layout: FeatureLayout
    card: dict[str, Any] = field(default_factory=dict)
    threads: int = 1
    templates: ReasonTemplates = FEATURE_REASON_TEMPLATES

    def __post_init__(self) -> None:
        self.encoder = RowEncoder(self.layout)
        self._schema = self.layout.schema
        self._groups = self.layout.reason_group()
        self._boolean_columns = {c.name for c in self._schema.columns if c.kind is ColumnKind.BOOLEAN}
        self._vector_of_column = {column: vector for vector in self.layout.vectors for column in vector.columns}
        self._grouped_vectors = {vector.name for vector in self.layout.vectors if vector.grouped}
        self._not_reasons = set(self.layout.context) - {"product_id"}
        # Contributions of a row, summed per reason group, are one matrix product.
        columns = self._schema.model_feature_names
        self._group_names = list(dict.fromkeys(self._groups[column] for column in columns))
        group_index = {name: index for index, name in enumerate(self._group_names)}
        self._group_matrix = np.zeros((len(columns), len(self._group_names)), dtype=np.float64)
        for column_index, column in enumerate(columns):
            self._group_matrix[column_index, group_index[self._groups[column]]] = 1.0
        self._column_index = {column: index for index, column in enumerate(columns)}
        self.booster.set_param({"nthread": self.threads})
        self._tree_shap: PathTreeShap | None = None
        self._tree_shap_unavailable = False

    # ---- identity ----

    @property
    def version(self) -> str:
        return str(self.card.get("version", ""))

    @property
    def feature_service(self) -> str:
        return str(self.card.get("feature_service", ""))

    @property
    def feature_names(self) -> list[str]:
        """Feast feature names (no view prefix) a serving row carries, as the service returns them."""
        return list(self.layout.feast_features)

    @property
    def feature_references(self) -> list[str]:
        """The same features as Feast `view:feature` references."""
        return list(self.layout.feature_references)

    @property
    def row_keys(self) -> list[str]:
        """Every key a row may carry: the Feast features plus entity/context keys the model reads."""
        return self.layout.row_keys

    def set_threads(self, threads: int) -> None:
        self.threads = threads
        self.booster.set_param({"nthread": threads})

    # ---- matrices ----

    def encode(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        return self.encoder.encode(rows)

    def dmatrix(self, matrix: np.ndarray) -> xgb.DMatrix:
        return xgb.DMatrix(
            matrix,
            feature_names=self._schema.model_feature_names,
            feature_types=self._schema.model_feature_types,
            enable_categorical=self._schema.has_categoricals,
            nthread=self.threads,
        )

    # ---- reasons ----

    def contributions(self, matrix: np.ndarray, *, exact: bool = True) -> np.ndarray:
        """Per-row, per-column log-odds contributions of an encoded matrix (no bias column).

        Exact ones are TreeSHAP's, from tables built on first use (`PathTreeShap`, about 4x
        faster than XGBoost's recursion for a few rows, same values to float32 rounding);
        `exact=False` is XGBoost's approximate (Saabas) attribution.
        """
        if exact:
            explainer = self._exact_explainer()
            if explainer is not None:
                return explainer.contributions(matrix)
        return self.booster.predict(self.dmatrix(matrix), pred_contribs=True, approx_contribs=not exact, validate_features=False)[:, :-1]

    def explain_matrix(self, rows: Sequence[Mapping[str, Any]], matrix: np.ndarray, top_k: int, *, exact: bool = True) -> list[list[Reason]]:
        """Reasons for rows already encoded (`matrix` row i is `rows[i]`), so a caller that
        scored them does not encode them again."""
        if not len(rows):
            return []
        return self.reasons_from_contributions(self.contributions(matrix, exact=exact), rows, matrix, top_k)

    def _exact_explainer(self) -> PathTreeShap | None:
        if self._tree_shap is None and not self._tree_shap_unavailable:
            try:
                self._tree_shap = PathTreeShap(self.booster)
            except ValueError:
                # A booster the tables do not cover: XGBoost's own TreeSHAP gives the same values.
                self._tree_shap_unavailable = True
        return self._tree_shap

    def reasons_from_contributions(
        self, contributions: np.ndarray, rows: Sequence[Mapping[str, Any]], matrix: np.ndarray, top_k: int
    ) -> list[list[Reason]]:
        """Top positive contributions per row, grouped (an embedding is one reason), as texts.

        Missing values and context columns (the tile position, the observation point) are never
        reasons: neither says anything about the customer or the product. A text already given
        for a larger contribution is not repeated.
        """
        grouped = np.asarray(contributions, dtype=np.float64) @ self._group_matrix
        out: list[list[Reason]] = []
        for row_index, row in enumerate(rows):
            display = _PresentValues(row)
            reasons: list[Reason] = []
            for group_index in np.argsort(-grouped[row_index], kind="stable"):
                group, contribution = self._group_names[group_index], float(grouped[row_index, group_index])
                if len(reasons) >= top_k or not contribution > 0:
                    break
                if group in self._not_reasons:
                    continue
                value = self._display_value(group, row, matrix[row_index])
                if value is None:
                    continue
                text = self.templates.render(group, value, display, contribution)
                if any(reason.text == text for reason in reasons):
                    # Two features saying the same thing (the 30-day top node and its share) are one reason.
                    continue
                reasons.append(Reason(feature=group, value=value, contribution=contribution, text=text))
            out.append(reasons)
        return out

    def _display_value(self, group: str, row: Mapping[str, Any], encoded: np.ndarray) -> str | None:
        if group in self._grouped_vectors:
            value = row.get(group)
            return None if value is None else f"{len(value)}-d vector"
        if group in self._vector_of_column:
            number = float(encoded[self._column_index[group]])
            return None if math.isnan(number) else display_number(number)
        if group in self._boolean_columns:
            number = float(encoded[self._column_index[group]])
            return None if math.isnan(number) else ("yes" if number >= 0.5 else "no")
        value = row.get(group)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return display_number(value) if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) else format_value(value)


def display_number(value: float) -> str:
    """Numbers as a customer reads them: 1,970 for money-sized values, 0.623 for shares."""
    number = float(value)
    if number.is_integer() and abs(number) < 1e15:
        return f"{int(number):,}"
    if abs(number) >= 100:
        return f"{round(number):,}"
    return f"{number:.3g}"


class _PresentValues(dict):
    """A row's values as display text for `{row[...]}`; a missing value is a KeyError, so the
    template that needs it is skipped rather than saying "missing"."""

    def __init__(self, row: Mapping[str, Any]):
        super().__init__()
        self._row = row

    def __missing__(self, key: str) -> str:
        value = self._row.get(key)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            raise KeyError(key)
        text = display_number(value) if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) else format_value(value)
        self[key] = text
        return text
