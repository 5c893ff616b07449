"""The ranker stage end to end: Feast training sets -> the ablation -> the production models.

    run_ranker_stage(settings)          # all of it, as the demo runs it (ablation, models, online shoppers, report)
    run_ablation(settings)              # <data_dir>/reports/evaluation.json
    train_production_models(settings)   # <models_dir>/tile_ranker/, <models_dir>/conversion/ (+ test predictions)

All read training data only through Feast `get_historical_features` by feature service over the
label marts (clickintent.ranker.training_sets) and split it by time. The parts: `tasks` (the two
tasks, encoding, one fit), `ablation` (the rows), `production` (the stored models),
`evaluation_document` (evaluation.json).

Design choices (measured with `clickintent rank designs`, shown in the report):
- tile ranker: binary click model with the slot as a feature (fixed at serving) rather than
  learning-to-rank (rank:ndcg, rank:pairwise) grouped by impression: only it gives the click
  probabilities the LogLoss column needs, and the design comparison reports both on validation.
- conversion: one multi-class model over `label_product_family` rather than one binary model per
  family: one artifact with one distribution in which 'none' and the families sum to 1; the
  design comparison reports the per-family alternative with a paired bootstrap interval.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from clickintent.artifacts import atomic_write_json
from clickintent.fit_window import UPSTREAM_FIELD, recorded_windows
from clickintent.ranker.ablation import ABLATION_ROWS, AblationRow, RowResult, fit_rows, web_coverage, web_test_units
from clickintent.ranker.anonymous_training import run_anonymous_step
from clickintent.ranker.evaluation_document import EVALUATION_FILE, evaluation_document
from clickintent.ranker.production import (
    TRAINING_FILE,
    commit_production,
    production_fit,
    save_production,
    staged_models,
    train_production_models,
    training_document,
)
from clickintent.ranker.tasks import TASKS, Log, load_prepared, model_version, quiet, vector_element_labels
from clickintent.settings import Settings

__all__ = ["run_ablation", "run_ranker_stage", "train_production_models"]


def run_ablation(
    settings: Settings, *, rows: Sequence[AblationRow] = ABLATION_ROWS, log: Log | None = None, store: Any = None, write: bool = True
) -> dict[str, Any]:
    """Every ablation row on the same time splits and seed; writes <reports>/evaluation.json.

    Each task's union service is fetched from Feast once; every row then trains on exactly the
    columns of its own feature service (tile_ranker_<row>, conversion_<row>). Rows whose stage
    output is missing are listed with their status and no figures.
    """
    return _run(settings, rows=rows, log=log, store=store, production=False, write=write)["evaluation"]


def run_ranker_stage(
    settings: Settings,
    *,
    log: Log | None = None,
    store: Any = None,
    online_shoppers: bool = True,
    online_shoppers_dir: Path | None = None,
    report: bool = True,
) -> dict[str, Any]:
    """The whole ranker stage, as the demo runs it; returns what it wrote and how long each part took.

    1. per task, one Feast point-in-time fetch of the union service, split by time;
    2. the ablation rows on it -> <reports>/evaluation.json;
    3. the production tile ranker and conversion model (the ablation row with the production
       service's features is reused, not retrained) -> <models>/tile_ranker, <models>/conversion,
       <reports>/training.json, test predictions;
    4. `online_shoppers`: 5-fold CV on the public online shoppers table -> <reports>/online_shoppers.json
       (skipped, with the reason in the result, when the dataset is not found);
    5. `report`: <reports>/report.md with its PNG figures.
    """
    log = log or quiet
    started = time.perf_counter()
    result = _run(settings, rows=ABLATION_ROWS, log=log, store=store, production=True, write=True)
    seconds = dict(result["evaluation"]["seconds"])
    out: dict[str, Any] = {
        "evaluation": result["evaluation"]["path"],
        "training": str(Path(settings.reports_dir) / TRAINING_FILE),
        "models": {task: result["training"][task]["directory"] for task in ("tile", "conversion")},
        "version": result["training"]["version"],
        "checks": result["evaluation"]["checks"],
    }
    out["anonymous_ranker"] = result["anonymous_ranker"]
    if online_shoppers:
        from clickintent.ranker.cross_validation import run_online_shoppers
        from clickintent.ranker.tabular import TableError

        shoppers_started = time.perf_counter()
        try:
            # One XGBoost thread: multi-threaded XGBoost under contention from other work on the
            # 2-core machine made the five folds over ten times slower.
            shoppers = run_online_shoppers(settings.model_copy(update={"threads": 1}), online_shoppers_dir)
            out["online_shoppers"] = {key: shoppers[key] for key in ("auc", "average_precision", "micro_f1", "path")}
            log(f"online shoppers: AUC {shoppers['auc']:.4f}, AP {shoppers['average_precision']:.4f}")
        except TableError as error:
            out["online_shoppers"] = {"skipped": str(error)}
            log(f"online shoppers skipped: {error}")
        seconds["online_shoppers"] = round(time.perf_counter() - shoppers_started, 2)
    if report:
        from clickintent.evaluation.report import write_report

        report_started = time.perf_counter()
        out["report"] = str(write_report(settings))
        seconds["report"] = round(time.perf_counter() - report_started, 2)
    seconds["stage_total"] = round(time.perf_counter() - started, 2)
    out["seconds"] = seconds
    return out


def _run(settings: Settings, *, rows: Sequence[AblationRow], log: Log | None, store: Any, production: bool, write: bool) -> dict[str, Any]:
    if production:
        with staged_models(settings) as staged:
            return _run_staged(settings, staged, rows=rows, log=log, store=store, write=write)
    return _run_staged(settings, None, rows=rows, log=log, store=store, write=write)


def _run_staged(
    settings: Settings, staged: Settings | None, *, rows: Sequence[AblationRow], log: Log | None, store: Any, write: bool
) -> dict[str, Any]:
    """`_run`'s work; production models go to `staged` (a staging models directory) and are
    committed with training.json and evaluation.json at the end (production.commit_production)."""
    from clickintent.features.dbt import verify_marts
    from clickintent.features.store import feature_store

    verify_marts(settings)
    log = log or quiet
    store = store or feature_store(settings)
    labels = vector_element_labels(settings)
    version = model_version(datetime.now(UTC))
    started = time.perf_counter()
    results: dict[str, dict[str, RowResult]] = {}
    splits: dict[str, Any] = {}
    coverage: dict[str, Any] = {}
    web_units: dict[str, np.ndarray] = {}
    seconds: dict[str, Any] = {}
    production_summaries: dict[str, dict[str, Any]] = {}
    for task in TASKS:
        task_started = time.perf_counter()
        prepared = load_prepared(settings, store, task, task.ablation_service, labels, log)
        seconds[f"{task.name}_fetch_and_encode"] = round(time.perf_counter() - task_started, 2)
        splits[task.name] = prepared.training_set.window()
        coverage[task.name] = web_coverage(prepared)
        web_units[task.name] = web_test_units(task, prepared)
        fits_started = time.perf_counter()
        results[task.name] = fit_rows(settings, store, task, prepared, rows, log)
        seconds[f"{task.name}_fits"] = round(time.perf_counter() - fits_started, 2)
        if staged is not None:
            production_started = time.perf_counter()
            fit = production_fit(settings, store, task, prepared, results[task.name], log)
            production_summaries[task.name] = save_production(staged, task, prepared, fit, version=version, element_labels=labels)
            seconds[f"{task.name}_production"] = round(time.perf_counter() - production_started, 2)
        del prepared
    evaluation = evaluation_document(rows, results, splits, coverage, web_units, settings)
    # Which sessions the taxonomy and encoder behind rows (b) onwards were fitted on.
    evaluation[UPSTREAM_FIELD] = recorded_windows(settings.models_dir)
    seconds["total"] = round(time.perf_counter() - started, 2)
    evaluation["seconds"] = seconds
    out: dict[str, Any] = {"evaluation": evaluation}
    evaluation_path = Path(settings.reports_dir) / EVALUATION_FILE
    if staged is not None:
        # The anonymous-visitor ranker: its ablation and model (clickintent.ranker.anonymous_training),
        # staged with the other two so the run commits all three together.
        anonymous_started = time.perf_counter()
        out["anonymous_ranker"] = run_anonymous_step(staged, log=log, store=store)
        seconds["anonymous_ranker"] = round(time.perf_counter() - anonymous_started, 2)
        production_seconds = {
            task.name: {
                "feast_fetch_and_encode_shared_with_ablation": seconds[f"{task.name}_fetch_and_encode"],
                "train_or_reuse_and_save": seconds[f"{task.name}_production"],
            }
            for task in TASKS
        }
        training = training_document(version, production_summaries, production_seconds)
        training[UPSTREAM_FIELD] = evaluation[UPSTREAM_FIELD]
        documents = {Path(settings.reports_dir) / TRAINING_FILE: training, **({evaluation_path: evaluation} if write else {})}
        commit_production(settings, staged, version, training, documents)
        out["training"] = training
    elif write:
        atomic_write_json(evaluation_path, evaluation)
    if write:
        evaluation["path"] = str(evaluation_path)
    return out
