"""The ranker's two tasks (tile clicks, conversion by family): their Feast training sets, encoded
once per fetch, and one fit measured on the validation and test splits.

Shared by the ablation (clickintent.ranker.ablation), the production models
(clickintent.ranker.production) and the design measurements (clickintent.ranker.designs). Every
model is XGBoost with one thread, early-stopped on the validation split (boosting.train_booster)
and measured once on the test split.
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from clickintent.evaluation.metrics import (
    CandidateRankingTestUnits,
    ConversionTestUnits,
    TileTestUnits,
    best_global_threshold,
    binary_logloss,
    macro_ovr_auc,
    multilabel_micro_f1,
    tile_macro_recall_at_1,
)
from clickintent.ranker.boosting import CONVERSION_BOOSTING, TILE_BOOSTING, BoosterConfig, TrainedBooster, train_booster
from clickintent.ranker.conversion_family import CONVERSION_CONTEXT, CONVERSION_OBJECTIVE, NO_CONVERSION
from clickintent.ranker.encoding import MatrixEncoder
from clickintent.ranker.families import HELD_FAMILIES, catalogue_families
from clickintent.ranker.layout import FeatureLayout, LayoutError, build_layout
from clickintent.ranker.provenance import read_views, training_data_versions
from clickintent.ranker.tabular import FeatureColumn
from clickintent.ranker.tile_model import SERVING_POSITION, TILE_CONTEXT, TILE_DERIVED, TILE_OBJECTIVE
from clickintent.ranker.training_sets import (
    CONVERSION_LABELS,
    TILE_LABELS,
    LabelTable,
    ServiceFeature,
    TrainingSet,
    build_training_set,
)
from clickintent.settings import Settings

# One XGBoost thread per model (multi-threaded XGBoost under contention is 10-100x slower).
XGBOOST_THREADS = 1
MODEL_GENERATION = "2"  # matches the _v2 feature services
# The customer-level session embeddings (linked web, in-app), the encoder stage's outputs: each is
# one reason in both customer models, since its single dimensions mean nothing.
CUSTOMER_EMBEDDINGS = ("web_embedding", "app_embedding")

Log = Callable[[str], None]


def quiet(_: str) -> None:
    pass


@dataclass(frozen=True)
class Task:
    name: str
    table: LabelTable
    service_prefix: str
    production_service: str
    ablation_service: str
    context: tuple[FeatureColumn, ...]
    derived: tuple[str, ...]
    grouped_vectors: tuple[str, ...]
    boosting: BoosterConfig

    def row_service(self, row: str) -> str:
        return f"{self.service_prefix}_{row}"


TILE_TASK = Task(
    "tile",
    TILE_LABELS,
    "tile_ranker",
    "tile_ranker_v2",
    "tile_ranker_ablation_all",
    TILE_CONTEXT,
    TILE_DERIVED,
    CUSTOMER_EMBEDDINGS,
    TILE_BOOSTING,
)
CONVERSION_TASK = Task(
    "conversion",
    CONVERSION_LABELS,
    "conversion",
    "conversion_v2",
    "conversion_ablation_all",
    CONVERSION_CONTEXT,
    (),
    CUSTOMER_EMBEDDINGS,
    CONVERSION_BOOSTING,
)
TASKS = (TILE_TASK, CONVERSION_TASK)


# ---------------------------------------------------------------------------------------------
# vector element names


def vector_element_labels(settings: Settings) -> dict[str, list[str]]:
    """Names of vector elements where the producing stage's order is known.

    Intent-label vectors follow the taxonomy's top nodes (taxonomy.yaml); the dbt shares follow
    dim_taxonomy_top_nodes. A length mismatch (a taxonomy edited since) falls back to numbers.
    """
    labels: dict[str, list[str]] = {}
    taxonomy_file = settings.taxonomy_dir / "taxonomy.yaml"
    if taxonomy_file.is_file():
        from clickintent.taxonomy.model import Taxonomy

        top = [_column_safe(node) for node in Taxonomy.load(taxonomy_file).top_node_ids]
        labels["web_distilled_top_node_probs"] = top
        labels["web_teacher_top_node_dist"] = top
        labels["app_distilled_top_node_probs"] = top
    dimension = settings.marts_dir / "dim_taxonomy_top_nodes.parquet"
    if dimension.is_file():
        nodes = pd.read_parquet(dimension, columns=["top_node_position", "top_taxonomy_node_id"]).sort_values("top_node_position")
        labels["taxonomy_node_shares_30d"] = [_column_safe(node) for node in nodes["top_taxonomy_node_id"]]
        labels["app_taxonomy_node_shares_30d"] = labels["taxonomy_node_shares_30d"]
    return labels


def _column_safe(name: str) -> str:
    # XGBoost feature names may not contain [ ] <
    return re.sub(r"[\[\]<]", "_", str(name))


# ---------------------------------------------------------------------------------------------
# prepared matrices


@dataclass
class Prepared:
    """One task's training set, encoded once with the fetched service's full layout."""

    task: Task
    training_set: TrainingSet
    layout: FeatureLayout
    matrices: dict[str, np.ndarray]
    frames: dict[str, pd.DataFrame]
    element_labels: dict[str, list[str]]
    # The product families of the data (dim_products, sorted): the conversion classes after
    # 'none' and the flags held_product_families expands to.
    families: tuple[str, ...]
    seconds: float = 0.0
    # taxonomy_version / encoder_version of the model-stage tables fetched (ranker.provenance).
    data_versions: dict[str, str] = field(default_factory=dict)

    @property
    def classes(self) -> tuple[str, ...]:
        return conversion_classes(self.families)

    def row_layout(self, features: Sequence[ServiceFeature]) -> tuple[FeatureLayout, np.ndarray]:
        """The layout of a sub-service and the indices of its columns in these matrices."""
        layout = task_layout(self.task, features, self.frames["train"], self.element_labels, self.families)
        columns = {name: index for index, name in enumerate(self.layout.model_columns)}
        missing = [name for name in layout.model_columns if name not in columns]
        if missing:
            raise LayoutError(f"columns of the row's service are not in the fetched service {self.training_set.service}: {missing[:5]}")
        return layout, np.array([columns[name] for name in layout.model_columns], dtype=np.intp)


def conversion_classes(families: Sequence[str]) -> tuple[str, ...]:
    """The conversion model's classes: 'none', then the data's families in their sorted order."""
    return (NO_CONVERSION, *families)


def task_layout(
    task: Task, features: Sequence[ServiceFeature], train: pd.DataFrame, element_labels: dict[str, list[str]], families: Sequence[str]
) -> FeatureLayout:
    return build_layout(
        features,
        train,
        context=task.context,
        derived=task.derived,
        element_labels=element_labels,
        grouped_vectors=task.grouped_vectors,
        flag_sets={HELD_FAMILIES: families},
    )


def prepare(task: Task, training_set: TrainingSet, element_labels: dict[str, list[str]], families: Sequence[str]) -> Prepared:
    """`families`: the product families of the data (`families.catalogue_families`)."""
    started = time.perf_counter()
    families = tuple(families)
    frames = {name: training_set.part(name) for name in ("train", "validation", "test")}
    layout = task_layout(task, training_set.features, frames["train"], element_labels, families)
    encoder = MatrixEncoder.of(layout)
    matrices = {name: encoder.encode_frame(frame) for name, frame in frames.items()}
    if task.name == "tile":
        # The test tiles as serving scores them: every candidate at the serving slot.
        position = layout.model_columns.index("position")
        for split in ("validation", "test"):
            serving = matrices[split].copy()
            serving[:, position] = SERVING_POSITION
            matrices[f"{split}_serving"] = serving
    return Prepared(task, training_set, layout, matrices, frames, element_labels, families, time.perf_counter() - started)


def load_prepared(settings: Settings, store: Any, task: Task, service: str, labels: dict[str, list[str]], log: Log) -> Prepared:
    log(f"{task.name}: Feast point-in-time join of {service} over {task.table.mart}")
    training_set = build_training_set(settings, store, task.name, task.table, service)
    log(f"{task.name}: {len(training_set.frame):,} rows in {training_set.fetch_seconds:.1f} s; encoding")
    prepared = prepare(task, training_set, labels, catalogue_families(settings.marts_dir))
    # Read right after the fetch, from the files Feast just joined: what these rows were made by.
    prepared.data_versions = training_data_versions(settings, read_views(prepared.layout), log)
    return prepared


def model_version(now: datetime) -> str:
    return f"{MODEL_GENERATION}.{now.strftime('%Y%m%dT%H%M%SZ')}"


# ---------------------------------------------------------------------------------------------
# fitting and measuring


@dataclass
class Fit:
    trained: TrainedBooster
    layout: FeatureLayout
    metrics: dict[str, dict[str, Any]]
    test_predictions: np.ndarray
    extra: dict[str, Any] = field(default_factory=dict)


def fit_tile(prepared: Prepared, columns: np.ndarray | None, layout: FeatureLayout, *, seed: int) -> Fit:
    """Binary click model on the tiles; Recall@1 at the serving slot, LogLoss at logged slots."""
    m = prepared.matrices if columns is None else {k: v[:, columns] for k, v in prepared.matrices.items()}
    labels = {name: prepared.frames[name]["clicked"].astype(np.int8).to_numpy() for name in prepared.frames}
    trained = train_booster(
        layout.schema,
        (m["train"], labels["train"]),
        (m["validation"], labels["validation"]),
        objective=TILE_OBJECTIVE,
        eval_metric="logloss",
        config=prepared.task.boosting,
        seed=seed,
        threads=XGBOOST_THREADS,
    )
    metrics: dict[str, dict[str, Any]] = {}
    test_serving = None
    for split in ("validation", "test"):
        frame = prepared.frames[split]
        logged = trained.booster.inplace_predict(m[split])
        serving = trained.booster.inplace_predict(m[f"{split}_serving"])
        recall = tile_macro_recall_at_1(frame["impression_id"], frame["product_id"], frame["clicked"], serving)
        metrics[split] = {
            "macro_recall_at_1": recall["macro_recall_at_1"],
            "micro_recall_at_1": recall["micro_recall_at_1"],
            "clicked_impressions": recall["impressions"],
            "logloss": binary_logloss(labels[split], logged),
            "rows": int(len(frame)),
            "click_rate": float(labels[split].mean()),
        }
        if split == "test":
            test_serving = np.column_stack([logged, serving])
            metrics[split]["per_product_recall_at_1"] = recall["per_product"]
            units = TileTestUnits(pd.factorize(frame["impression_id"])[0], frame["product_id"].to_numpy(), labels[split], serving, logged)
    assert test_serving is not None
    return Fit(trained, layout, metrics, test_serving, {"test_units": units})


def conversion_truth(frame: pd.DataFrame, families: Sequence[str]) -> np.ndarray:
    """(rows, families) 0/1: the families of fct_conversion_labels.converted_product_families."""
    index = {family: column for column, family in enumerate(families)}
    out = np.zeros((len(frame), len(families)), dtype=np.int8)
    for row, converted in enumerate(frame["converted_product_families"].to_numpy(dtype=object)):
        for family in converted:
            if family not in index:
                raise LayoutError(f"converted_product_families holds {family!r}, not one of the data's families {', '.join(families)}")
            out[row, index[family]] = 1
    return out


def fit_conversion(prepared: Prepared, columns: np.ndarray | None, layout: FeatureLayout, *, seed: int) -> Fit:
    """Multi-class model over label_product_family; micro-F1 at a validation-chosen threshold."""
    m = prepared.matrices if columns is None else {k: v[:, columns] for k, v in prepared.matrices.items()}
    families, all_classes = prepared.families, prepared.classes
    code = {name: index for index, name in enumerate(all_classes)}
    classes = {name: prepared.frames[name]["label_product_family"].map(code) for name in prepared.frames}
    unknown = {name: int(values.isna().sum()) for name, values in classes.items() if values.isna().any()}
    if unknown:
        raise LayoutError(f"label_product_family has values outside {all_classes}: {unknown}")
    trained = train_booster(
        layout.schema,
        (m["train"], classes["train"].to_numpy(np.int32)),
        (m["validation"], classes["validation"].to_numpy(np.int32)),
        objective=CONVERSION_OBJECTIVE,
        eval_metric="mlogloss",
        config=prepared.task.boosting,
        seed=seed,
        threads=XGBOOST_THREADS,
        num_class=len(all_classes),
    )
    probabilities = {
        split: trained.booster.inplace_predict(m[split]).reshape(len(prepared.frames[split]), len(all_classes))
        for split in ("validation", "test")
    }
    threshold = best_global_threshold(conversion_truth(prepared.frames["validation"], families), probabilities["validation"][:, 1:])
    metrics: dict[str, dict[str, Any]] = {}
    for split in ("validation", "test"):
        truth = conversion_truth(prepared.frames[split], families)
        family_p = probabilities[split][:, 1:]
        auc, per_family = macro_ovr_auc(truth, family_p)
        any_truth = truth.max(axis=1)
        metrics[split] = {
            "micro_f1": multilabel_micro_f1(truth, (family_p >= threshold).astype(np.int8)),
            "macro_auc": auc,
            "any_conversion_auc": float(roc_auc_score(any_truth, 1 - probabilities[split][:, 0]))
            if 0 < any_truth.sum() < len(any_truth)
            else float("nan"),
            "per_family_auc": {families[column]: value for column, value in per_family.items()},
            "rows": int(len(truth)),
            "positives_per_family": {family: int(n) for family, n in zip(families, truth.sum(axis=0))},
            "threshold": threshold,
        }
    test_truth = conversion_truth(prepared.frames["test"], families)
    units = ConversionTestUnits(test_truth, probabilities["test"][:, 1:] >= threshold)
    return Fit(
        trained,
        layout,
        metrics,
        probabilities["test"],
        {
            "threshold": threshold,
            "validation_probabilities": probabilities["validation"],
            "test_units": units,
            "test_auc_units": ConversionAucUnits(test_truth, probabilities["test"][:, 1:]),
        },
    )


class ConversionAucUnits:
    """Macro one-vs-rest AUC over families (as macro_ovr_auc) per bootstrap resample of test
    observations: each family's weighted AUC through the pooled-AUC units with one candidate."""

    def __init__(self, truth: np.ndarray, family_probabilities: np.ndarray):
        self.families = [
            CandidateRankingTestUnits(truth[:, [column]], family_probabilities[:, [column]])
            for column in range(truth.shape[1])
            if 0 < truth[:, column].sum() < len(truth)
        ]

    def macro_auc(self, weights: np.ndarray) -> np.ndarray:
        if not self.families:
            return np.full(weights.shape[0], np.nan)
        with warnings.catch_warnings():
            # a resample without both classes in every family has no AUC: NaN, left out of the interval
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(np.stack([family.auc(weights) for family in self.families]), axis=0)


FITTERS = {"tile": fit_tile, "conversion": fit_conversion}


def short_figures(metrics: dict[str, Any]) -> str:
    keys = ("macro_recall_at_1", "logloss", "micro_f1", "macro_auc")
    return "  ".join(f"{key} {metrics[key]:.4f}" for key in keys if key in metrics)


def web_columns(frame: pd.DataFrame) -> list[str]:
    return [
        c for c in ("n_linked_sessions_30d", "web_distilled_top_node_id", "web_teacher_top_node_id", "web_embedding") if c in frame.columns
    ]


def web_rows(frame: pd.DataFrame) -> pd.Series:
    """Rows whose customer has web features at the label time."""
    for column in ("web_embedding", "web_distilled_top_node_id", "n_linked_sessions_30d"):
        if column in frame.columns and frame[column].notna().any():
            return frame[column].notna()
    return pd.Series(False, index=frame.index)
