"""The ablation: rows a-g of linked-web intent features, rows h-m of in-app intent and row n of
both, on the same time splits and seed.

Each task's union service is fetched from Feast once (clickintent.ranker.tasks); every row then
trains on exactly the columns of its own feature service (tile_ranker_<row>, conversion_<row>).
A row whose added features have no values yet says which stage it waits for and has no figures.
Row (k) trains nothing: it is the identity-free row best on validation, per task.

Each row also records whom it can change: the test rows where any feature it adds to (a) has a
value at the label time (`RowResult.reach`); the evaluation compares it with (a) there too.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from clickintent.ranker.layout import FeatureLayout
from clickintent.ranker.tasks import CUSTOMER_EMBEDDINGS, FITTERS, TILE_TASK, Fit, Log, Prepared, Task, short_figures, web_columns
from clickintent.ranker.training_sets import service_features
from clickintent.settings import Settings


@dataclass(frozen=True)
class AblationRow:
    name: str
    description: str
    # Which model-stage outputs the row adds: "labels" (taxonomy stage), "embedding" (encoder).
    needs: tuple[str, ...] = ()
    required: bool = True  # one of the five rows the issue asks for
    # No customer feature through a web-to-customer link (the identity-free mode can serve it).
    identity_free: bool = False
    # A selection row: no service of its own, the row of these best on validation (per task).
    chosen_among: tuple[str, ...] = ()


ABLATION_ROWS: tuple[AblationRow, ...] = (
    AblationRow("a_baseline", "production baseline: app-side customer profile (+ product attributes for tiles)"),
    AblationRow("b_teacher_labels", "a + teacher intent labels of linked web sessions", ("labels",)),
    AblationRow("c_distilled_labels", "a + distilled intent labels of linked web sessions", ("labels",)),
    AblationRow("d_embedding", "a + session embedding of linked web sessions", ("embedding",)),
    AblationRow("e_embedding_and_labels", "a + session embedding + distilled labels", ("embedding", "labels")),
    AblationRow("f_web_aggregates", "a + dbt 30-day web aggregates (counts, taxonomy shares; no model)", (), False),
    AblationRow(
        "g_all_online", "e + f: every linked-web feature servable online (conversion_v1's features)", ("embedding", "labels"), False
    ),
    AblationRow("h_app_embedding", "a + embedding of the customer's app sessions (no identity link)", ("embedding",), False, True),
    AblationRow(
        "i_app_embedding_and_labels",
        "a + in-app embedding + in-app distilled labels (no identity link)",
        ("embedding", "labels"),
        False,
        True,
    ),
    AblationRow(
        "j_app_and_linked_web", "i + linked web embedding and distilled labels (login link, stitched)", ("embedding", "labels"), False
    ),
    AblationRow(
        "k_identity_free_best",
        "the identity-free row (h, i, l, m) best on validation, per task",
        required=False,
        identity_free=True,
        chosen_among=("h_app_embedding", "i_app_embedding_and_labels", "l_app_aggregates", "m_app_all"),
    ),
    AblationRow("l_app_aggregates", "a + dbt 30-day in-app aggregates (counts, taxonomy shares; no model)", (), False, True),
    AblationRow("m_app_all", "i + l: every identity-free customer feature", ("embedding", "labels"), False, True),
    AblationRow("n_both_platforms", "g + i: everything servable online from both platforms", ("embedding", "labels"), False),
)
BASELINE_ROW = "a_baseline"
STAGE_FEATURES = {
    "labels": ("web_distilled_top_node_probs", "web_teacher_top_node_dist", "app_distilled_top_node_probs"),
    "embedding": CUSTOMER_EMBEDDINGS,
}
# The validation figure a selection row picks its row by, per task: (metric, +1 if higher is better).
SELECTION_METRIC = {"tile": ("logloss", -1), "conversion": ("micro_f1", +1)}
WAITING = {"labels": "waiting for the taxonomy stage", "embedding": "waiting for the encoder"}


@dataclass
class RowResult:
    """One ablation row of one task: its service's layout and, unless it waits for a stage, its fit."""

    row: AblationRow
    service: str
    layout: FeatureLayout
    columns: np.ndarray
    waiting: list[str]
    fit: Fit | None = None  # None: the row waits for a stage's output and was not trained
    # Feast features the row adds to (a), and per test row whether any of them has a value.
    added_features: tuple[str, ...] = ()
    reach: np.ndarray | None = None
    reach_units: np.ndarray | None = None  # the same per test unit (ablation.per_test_unit)
    chosen: str | None = None  # a selection row: the row it took

    @property
    def status(self) -> str:
        return "; ".join(self.waiting) if self.waiting else "ok"


def _row_waiting(row: AblationRow, layout: FeatureLayout) -> list[str]:
    """The stages whose outputs the row adds but the training rows do not have yet."""
    waiting = []
    for stage in row.needs:
        relevant = [feature for feature in STAGE_FEATURES[stage] if feature in layout.feast_features]
        if relevant and all(feature in layout.unused for feature in relevant):
            waiting.append(WAITING[stage])
    return waiting


def fit_rows(settings: Settings, store: Any, task: Task, prepared: Prepared, rows: Sequence[AblationRow], log: Log) -> dict[str, RowResult]:
    """Every row of `rows` on `prepared` (the union service's matrices): same splits, same seed.

    A row whose added features have no values yet (the taxonomy or encoder stage has not run) is
    not trained: it would only repeat another row's figures under a misleading name. Layouts are
    built first (they read the registry), then `settings.threads` models train at once, each on
    one XGBoost thread, which XGBoost runs outside the GIL.
    """
    results: dict[str, RowResult] = {}
    baseline_features = (
        {feature.name for feature in service_features(store, task.row_service(BASELINE_ROW))}
        if any(row.name == BASELINE_ROW for row in rows)
        else set()
    )
    for row in rows:
        if row.chosen_among:
            continue
        service = task.row_service(row.name)
        features = service_features(store, service)
        layout, columns = prepared.row_layout(features)
        added = tuple(feature.name for feature in features if feature.name not in baseline_features)
        reach = present_rows(prepared.frames["test"], added) if added else None  # (a) adds nothing
        results[row.name] = RowResult(
            row,
            service,
            layout,
            columns,
            _row_waiting(row, layout),
            added_features=added,
            reach=reach,
            reach_units=None if reach is None else per_test_unit(task, prepared, reach),
        )
    trainable = [result for result in results.values() if not result.waiting]
    for result in results.values():
        if result.waiting:
            log(f"{task.name} {result.row.name}: not trained, {result.status}")

    def fit(result: RowResult) -> Fit:
        return FITTERS[task.name](prepared, result.columns, result.layout, seed=settings.seed)

    workers = max(1, min(int(settings.threads), len(trainable)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for result, fitted in zip(trainable, pool.map(fit, trainable)):
            result.fit = fitted
            log(f"{task.name} {result.row.name}: {short_figures(fitted.metrics['test'])} ({fitted.trained.seconds:.1f} s)")
    for row in rows:
        if row.chosen_among:
            results[row.name] = select_row(task, row, results)
            log(f"{task.name} {row.name}: {results[row.name].chosen or results[row.name].status}")
    return {row.name: results[row.name] for row in rows}


def select_row(task: Task, row: AblationRow, results: dict[str, RowResult]) -> RowResult:
    """The candidate of `row.chosen_among` with the best validation figure (SELECTION_METRIC); the
    test split plays no part. It waits when no candidate was trained."""
    metric, direction = SELECTION_METRIC[task.name]
    candidates = [results[name] for name in row.chosen_among if name in results]
    if not candidates:
        raise ValueError(f"ablation row {row.name} chooses among {row.chosen_among}, none of which is in this run's rows")
    trained = [result for result in candidates if result.fit is not None]
    if not trained:
        waiting = sorted({reason for result in candidates for reason in result.waiting})
        first = candidates[0]
        return RowResult(row, first.service, first.layout, first.columns, waiting)
    best = max(trained, key=lambda result: direction * result.fit.metrics["validation"][metric])
    return replace(best, row=row, chosen=best.row.name)


def present_rows(frame: pd.DataFrame, features: Sequence[str]) -> np.ndarray:
    """Per row of `frame`: does any of `features` have a value (the rows these features can change)."""
    columns = [feature for feature in features if feature in frame.columns]
    if not columns:
        return np.zeros(len(frame), dtype=bool)
    return frame[columns].notna().any(axis=1).to_numpy()


def per_test_unit(task: Task, prepared: Prepared, rows_present: np.ndarray) -> np.ndarray:
    """Test rows -> test units (tile: impression, in fit_tile's unit order, present when any of its
    tiles is; conversion: the observation itself)."""
    if task is TILE_TASK:
        codes = pd.factorize(prepared.frames["test"]["impression_id"])[0]
        minlength = int(codes.max()) + 1 if len(codes) else 0
        return np.bincount(codes, weights=rows_present.astype(np.float64), minlength=minlength) > 0
    return rows_present


def web_test_units(task: Task, prepared: Prepared) -> np.ndarray:
    """Per test unit (impression for tiles, in fit_tile's unit order; observation for conversion):
    does the customer have any web feature at the label time."""
    test = prepared.frames["test"]
    return per_test_unit(task, prepared, present_rows(test, web_columns(test)))


def web_coverage(prepared: Prepared) -> dict[str, float | None]:
    """Share of each split's rows whose customer has any web feature (dbt aggregates, labels or
    embedding) at the label time: the rows where web features can make a difference at all."""
    columns = web_columns(prepared.training_set.frame)
    out: dict[str, float | None] = {}
    for split, frame in prepared.frames.items():
        present = frame[columns].notna().any(axis=1) if columns else pd.Series(False, index=frame.index)
        out[split] = round(float(present.mean()), 4) if len(frame) else None
    return out
