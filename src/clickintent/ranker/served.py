"""What the stored tile ranker and conversion model share: the card, loading, encoding, reasons.

A stored model is a directory `<models_dir>/<name>/` with `model.ubj` (XGBoost's UBJSON, trimmed
to the early-stopping round) and `model_card.json` (format, version, feature service, Feast
feature references, the feature layout with category vocabularies, data window, metrics). No
pickle. Loading checks the card's format and that the booster's columns are the layout's, so a
model and a card that do not belong together fail at load time, not with wrong scores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import xgboost as xgb

from clickintent.artifacts import CARD_FILE, ModelCardError, atomic_directory, read_card, write_card
from clickintent.ranker.boosting import dmatrix
from clickintent.ranker.encoding import MatrixEncoder
from clickintent.ranker.feature_reasons import FEATURE_REASON_TEMPLATES
from clickintent.ranker.layout import FeatureLayout
from clickintent.ranker.reasons import Reason, ReasonTemplates, ReasonWriter
from clickintent.ranker.tree_shap import PathTreeShap

MODEL_FILE = "model.ubj"
TRAIN_COMMAND = "clickintent rank train"
__all__ = [
    "CARD_FILE",
    "MODEL_FILE",
    "LayoutModel",
    "ModelCardError",
    "load_model_card",
    "load_booster",
    "save_layout_model",
    "save_model_directory",
]


def load_model_card(directory: Path, expected_format: str) -> dict[str, Any]:
    """The card of a stored ranker model, checked (format, fields, model file); ModelCardError otherwise."""
    directory = Path(directory)
    card = read_card(
        directory,
        train_command=TRAIN_COMMAND,
        required_fields=("version", "feature_service", "layout", "model_file"),
        expected={"format": expected_format},
    )
    if not (directory / card["model_file"]).is_file():
        raise ModelCardError(f"{directory} lacks the model file {card['model_file']} named by its card; run `{TRAIN_COMMAND}`")
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
        write_card(staging, card)
    return Path(directory)


def save_layout_model(
    models_dir: Path,
    booster: xgb.Booster,
    layout: FeatureLayout,
    *,
    fmt: str,
    name: str,
    version: str,
    service: str,
    task: Mapping[str, Any],
    data_window: Mapping[str, Any],
    metrics: Mapping[str, Any],
    training: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Store a served model in `<models_dir>/<name>/`: the booster and a card of the shared fields,
    the model's own `task` fields, its data window, metrics and training, then any `extra` keys."""
    card = card_base(fmt, name, version, service, layout)
    card.update(task)
    card.update({"data_window": dict(data_window), "metrics": dict(metrics), "training": dict(training)})
    clashes = sorted(set(extra or {}) & set(card))
    if clashes:
        raise ValueError(f"extra card keys clash with the card's own: {', '.join(clashes)}")
    card.update(extra or {})
    return save_model_directory(Path(models_dir) / name, booster, card)


def card_base(fmt: str, name: str, version: str, service: str, layout: FeatureLayout) -> dict[str, Any]:
    return {
        "format": fmt,
        "name": name,
        "version": version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
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
    # Each stored model's folder under the models directory and the card format it writes.
    directory_name: ClassVar[str] = ""
    card_format: ClassVar[str] = ""

    @classmethod
    def load(cls, models_dir: Path, *, threads: int = 1) -> Self:
        """The model in `<models_dir>/<directory_name>/`; ModelCardError if missing or incompatible."""
        directory = Path(models_dir) / cls.directory_name
        card = load_model_card(directory, cls.card_format)
        layout = FeatureLayout.from_json(card["layout"])
        return cls(booster=load_booster(directory, card, layout, threads), layout=layout, card=card, threads=threads)

    def __post_init__(self) -> None:
        self.encoder = MatrixEncoder.of(self.layout)
        self._schema = self.layout.schema
        self._column_index = {column: index for index, column in enumerate(self._schema.model_feature_names)}
        self.reason_writer = ReasonWriter.for_layout(self.layout, self.templates)
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

    # ---- matrices ----

    def encode(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        return self.encoder.encode_rows(rows)

    def dmatrix(self, matrix: np.ndarray) -> xgb.DMatrix:
        return dmatrix(self._schema, matrix, threads=self.threads)

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

    def explain_matrix(
        self, rows: Sequence[Mapping[str, Any]], matrix: np.ndarray, top_k: int, *, exact: bool = True
    ) -> list[list[Reason]]:
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
        """Top positive contributions per row, grouped (an embedding is one reason), as texts (`ReasonWriter`)."""
        return self.reason_writer.write(contributions, rows, matrix, top_k)
