"""The ablation: rows a-g of web-intent features on the same time splits and seed.

Each task's union service is fetched from Feast once (clickintent.ranker.tasks); every row then
trains on exactly the columns of its own feature service (tile_ranker_<row>, conversion_<row>).
A row whose added features have no values yet says which stage it waits for and has no figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from clickintent.ranker.layout import FeatureLayout
from clickintent.ranker.tasks import FITTERS, TILE_TASK, Fit, Log, Prepared, Task, short_figures, web_columns
from clickintent.ranker.training_sets import service_features
from clickintent.settings import Settings


@dataclass(frozen=True)
class AblationRow:
    name: str
    description: str
    # Which model-stage outputs the row adds: "labels" (taxonomy stage), "embedding" (encoder).
    needs: tuple[str, ...] = ()
    required: bool = True  # one of the five rows the issue asks for


ABLATION_ROWS: tuple[AblationRow, ...] = (
    AblationRow("a_baseline", "production baseline: app-side customer profile (+ product attributes for tiles)"),
    AblationRow("b_teacher_labels", "a + teacher intent labels of linked web sessions", ("labels",)),
    AblationRow("c_distilled_labels", "a + distilled intent labels of linked web sessions", ("labels",)),
    AblationRow("d_embedding", "a + session embedding of linked web sessions", ("embedding",)),
    AblationRow("e_embedding_and_labels", "a + session embedding + distilled labels", ("embedding", "labels")),
    AblationRow("f_web_aggregates", "a + dbt 30-day web aggregates (counts, taxonomy shares; no model)", (), False),
    AblationRow("g_all_online", "e + f: everything servable online (the production feature set)", ("embedding", "labels"), False),
)
STAGE_FEATURES = {"labels": ("web_distilled_top_node_probs", "web_teacher_top_node_dist"), "embedding": ("web_embedding",)}
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
    for row in rows:
        service = task.row_service(row.name)
        layout, columns = prepared.row_layout(service_features(store, service))
        results[row.name] = RowResult(row, service, layout, columns, _row_waiting(row, layout))
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
    return results


def web_test_units(task: Task, prepared: Prepared) -> np.ndarray:
    """Per test unit (impression for tiles, in fit_tile's unit order; observation for conversion):
    does the customer have any web feature at the label time."""
    test = prepared.frames["test"]
    columns = web_columns(test)
    present = test[columns].notna().any(axis=1).to_numpy() if columns else np.zeros(len(test), dtype=bool)
    if task is TILE_TASK:
        codes = pd.factorize(test["impression_id"])[0]
        return np.bincount(codes, weights=present.astype(np.float64), minlength=int(codes.max()) + 1 if len(codes) else 0) > 0
    return present


def web_coverage(prepared: Prepared) -> dict[str, float | None]:
    """Share of each split's rows whose customer has any web feature (dbt aggregates, labels or
    embedding) at the label time: the rows where web features can make a difference at all."""
    columns = web_columns(prepared.training_set.frame)
    out: dict[str, float | None] = {}
    for split, frame in prepared.frames.items():
        present = frame[columns].notna().any(axis=1) if columns else pd.Series(False, index=frame.index)
        out[split] = round(float(present.mean()), 4) if len(frame) else None
    return out
