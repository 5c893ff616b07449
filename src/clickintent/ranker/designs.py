"""The measurements behind the rankers' design choices, on validation data only.

`clickintent rank designs` writes <data_dir>/reports/ranker_designs.json, shown in the report:

- tile ranker, on the production feature service: a binary click model with the slot as a
  feature (scored at the serving slot), the same without the slot, and learning-to-rank grouped
  by impression (rank:ndcg, rank:pairwise; the slot as a feature too), plus two tree settings of
  the binary model. Compared on validation macro Recall@1 and LogLoss (LogLoss only where the
  model gives probabilities).
- conversion model: one multi-class model over label_product_family against one binary model
  per family, on validation micro-F1 (threshold chosen on the same validation rows for both, so
  both are equally optimistic) and macro AUC.

The test split is never read here.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clickintent.artifacts import atomic_write_json
from clickintent.evaluation.metrics import (
    best_global_threshold,
    macro_ovr_auc,
    multilabel_micro_f1,
    tile_macro_recall_at_1,
)
from clickintent.ranker.boosting import train_booster
from clickintent.ranker.tasks import (
    CONVERSION_TASK,
    TILE_TASK,
    XGBOOST_THREADS,
    Log,
    Prepared,
    conversion_truth,
    fit_conversion,
    fit_tile,
    load_prepared,
    quiet,
    task_layout,
    vector_element_labels,
)
from clickintent.ranker.tile_model import TILE_CONTEXT
from clickintent.settings import Settings

DESIGNS_FILE = "ranker_designs.json"


def _tile_variants(prepared: Prepared, seed: int, log: Log) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def record(name: str, chosen: bool, recall: float, logloss: float | None, trees: int, seconds: float) -> None:
        out.append(
            {
                "design": name,
                "chosen": chosen,
                "validation_macro_recall_at_1": recall,
                "validation_logloss": logloss,
                "trees": trees,
                "seconds": round(seconds, 2),
            }
        )
        log(f"tile {name}: recall@1 {recall:.4f}" + (f", logloss {logloss:.5f}" if logloss is not None else ""))

    fit = fit_tile(prepared, None, prepared.layout, seed=seed)
    record(
        "binary:logistic, slot as feature (fixed at serving)",
        True,
        fit.metrics["validation"]["macro_recall_at_1"],
        fit.metrics["validation"]["logloss"],
        fit.trained.trees,
        fit.trained.seconds,
    )

    for label, config in (
        ("binary:logistic, depth 4", replace(TILE_TASK.boosting, max_depth=4)),
        (
            "binary:logistic, depth 6, learning rate 0.05, min_child_weight 10",
            replace(TILE_TASK.boosting, learning_rate=0.05, min_child_weight=10.0),
        ),
    ):
        variant = replace(prepared, task=replace(TILE_TASK, boosting=config))
        fit = fit_tile(variant, None, prepared.layout, seed=seed)
        record(
            label,
            False,
            fit.metrics["validation"]["macro_recall_at_1"],
            fit.metrics["validation"]["logloss"],
            fit.trained.trees,
            fit.trained.seconds,
        )

    # Without the slot: a layout with product_id as the only context column.
    no_slot_task = replace(TILE_TASK, context=tuple(column for column in TILE_CONTEXT if column.name != "position"))
    layout = task_layout(no_slot_task, prepared.training_set.features, prepared.frames["train"], prepared.element_labels, prepared.families)
    columns_by_name = {name: index for index, name in enumerate(prepared.layout.model_columns)}
    columns = np.array([columns_by_name[name] for name in layout.model_columns], dtype=np.intp)
    fit = fit_tile(prepared, columns, layout, seed=seed)
    record(
        "binary:logistic, no slot feature",
        False,
        fit.metrics["validation"]["macro_recall_at_1"],
        fit.metrics["validation"]["logloss"],
        fit.trained.trees,
        fit.trained.seconds,
    )

    train, validation = prepared.frames["train"], prepared.frames["validation"]
    query_ids = (pd.factorize(train["impression_id"])[0], pd.factorize(validation["impression_id"])[0])
    for objective in ("rank:ndcg", "rank:pairwise"):
        trained = train_booster(
            prepared.layout.schema,
            (prepared.matrices["train"], train["clicked"].astype(np.int8).to_numpy()),
            (prepared.matrices["validation"], validation["clicked"].astype(np.int8).to_numpy()),
            objective=objective,
            eval_metric="ndcg@1",
            config=TILE_TASK.boosting,
            seed=seed,
            threads=XGBOOST_THREADS,
            query_ids=query_ids,
        )
        scores = trained.booster.inplace_predict(prepared.matrices["validation_serving"])
        recall = tile_macro_recall_at_1(validation["impression_id"], validation["product_id"], validation["clicked"], scores)[
            "macro_recall_at_1"
        ]
        record(f"{objective} grouped by impression, slot as feature", False, recall, None, trained.trees, trained.seconds)
    return out


def _conversion_variants(prepared: Prepared, seed: int, log: Log) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    fit = fit_conversion(prepared, None, prepared.layout, seed=seed)
    validation = fit.metrics["validation"]
    out.append(
        {
            "design": "multi:softprob over label_product_family (incl. none)",
            "chosen": True,
            "validation_micro_f1": validation["micro_f1"],
            "validation_macro_auc": validation["macro_auc"],
            "trees": fit.trained.trees,
            "seconds": round(fit.trained.seconds, 2),
        }
    )
    log(f"conversion multi-class: micro-F1 {validation['micro_f1']:.4f}, AUC {validation['macro_auc']:.4f}")

    train, valid = prepared.frames["train"], prepared.frames["validation"]
    train_truth, truth = conversion_truth(train, prepared.families), conversion_truth(valid, prepared.families)
    probabilities = np.zeros((len(valid), len(prepared.families)))
    trees, seconds = 0, 0.0
    for column in range(len(prepared.families)):
        trained = train_booster(
            prepared.layout.schema,
            (prepared.matrices["train"], train_truth[:, column]),
            (prepared.matrices["validation"], truth[:, column]),
            objective="binary:logistic",
            eval_metric="logloss",
            config=CONVERSION_TASK.boosting,
            seed=seed,
            threads=XGBOOST_THREADS,
        )
        probabilities[:, column] = trained.booster.inplace_predict(prepared.matrices["validation"])
        trees += trained.trees
        seconds += trained.seconds
    threshold = best_global_threshold(truth, probabilities)
    micro_f1 = multilabel_micro_f1(truth, (probabilities >= threshold).astype(np.int8))
    auc = macro_ovr_auc(truth, probabilities)[0]
    out.append(
        {
            "design": "one binary:logistic model per family (converted_product_families)",
            "chosen": False,
            "validation_micro_f1": micro_f1,
            "validation_macro_auc": auc,
            "trees": trees,
            "seconds": round(seconds, 2),
        }
    )
    log(f"conversion per family: micro-F1 {micro_f1:.4f}, AUC {auc:.4f}")
    chosen_predictions = (fit.extra["validation_probabilities"][:, 1:] >= fit.extra["threshold"]).astype(np.int8)
    low, high = paired_bootstrap_micro_f1_difference(truth, (probabilities >= threshold).astype(np.int8), chosen_predictions, seed=seed)
    out[1]["micro_f1_difference_vs_chosen_95pct"] = [low, high]
    log(f"conversion per family minus multi-class, micro-F1, paired bootstrap 95 %: [{low:+.4f}, {high:+.4f}]")
    return out


def paired_bootstrap_micro_f1_difference(
    truth: np.ndarray, predicted_a: np.ndarray, predicted_b: np.ndarray, *, resamples: int = 400, seed: int = 7
) -> tuple[float, float]:
    """95 % interval of micro-F1(a) - micro-F1(b) over rows resampled with replacement (paired)."""
    rng = np.random.default_rng(seed)

    def micro_f1(rows: np.ndarray, predicted: np.ndarray) -> float:
        hits = (truth[rows] & predicted[rows]).sum()
        denominator = truth[rows].sum() + predicted[rows].sum()
        return float(2 * hits / denominator) if denominator else 0.0

    differences = []
    for _ in range(resamples):
        rows = rng.integers(0, len(truth), len(truth))
        differences.append(micro_f1(rows, predicted_a) - micro_f1(rows, predicted_b))
    low, high = np.percentile(differences, [2.5, 97.5])
    return round(float(low), 4), round(float(high), 4)


def compare_designs(settings: Settings, *, log: Log | None = None, store: Any = None) -> dict[str, Any]:
    """Run the design comparisons on the production feature services; write ranker_designs.json."""
    from clickintent.features.store import feature_store

    log = log or quiet
    store = store or feature_store(settings)
    labels = vector_element_labels(settings)
    started = time.perf_counter()
    tile = load_prepared(settings, store, TILE_TASK, TILE_TASK.production_service, labels, log)
    tile_rows = _tile_variants(tile, settings.seed, log)
    del tile
    conversion = load_prepared(settings, store, CONVERSION_TASK, CONVERSION_TASK.production_service, labels, log)
    conversion_rows = _conversion_variants(conversion, settings.seed, log)
    document = {
        "tile": tile_rows,
        "conversion": conversion_rows,
        "feature_services": {"tile": TILE_TASK.production_service, "conversion": CONVERSION_TASK.production_service},
        "note": "validation split only; the test split is never read by these comparisons",
        "seed": settings.seed,
        "seconds": round(time.perf_counter() - started, 1),
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    atomic_write_json(Path(settings.reports_dir) / DESIGNS_FILE, document)
    document["path"] = str(Path(settings.reports_dir) / DESIGNS_FILE)
    return document
