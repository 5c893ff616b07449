"""The production tile ranker and conversion model: trained (or taken from their ablation row),
stored with their cards, their test predictions and reason examples.

Production feature sets are fixed services, not picked per run, so serving knows what to fetch:
`tile_ranker_v2` = the features of ablation row (j), the in-app embedding and distilled labels of
the customer's own app sessions plus those of linked web sessions (each computable for a live
session of its platform); `conversion_v2` = row (n), (j) + the dbt 30-day web aggregates (why
these rows: docs/measurements.md, "Production v2 services").
The ablation row with the same features is the production model (same splits and seed), so the
stage trains it once.

The models of one run (tile ranker, conversion model) and its documents (training.json,
evaluation.json) belong together. They are saved into a staging models directory
(`<models>/.rank_run.tmp-*`) and committed by `commit_production`: `<models>/rank_run.json` says
"in progress", the model folders are swapped in, the documents written, and the record, written
last, names the run's version and each model file with its hash. The service refuses a tile
ranker that is not the one its run committed (serving/artifacts.py), so a kill between two
swaps never serves a ranker beside another run's companions.
"""

from __future__ import annotations

import io
import shutil
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from clickintent.artifacts import (
    atomic_write_bytes,
    atomic_write_json,
    mark_in_progress,
    recover_directory,
    staging_sibling,
    swap_directory,
    write_commit,
)
from clickintent.ranker.ablation import RowResult
from clickintent.ranker.anonymous_model import ANONYMOUS_RANKER_DIR
from clickintent.ranker.conversion_family import CONVERSION_DIR, NO_CONVERSION, save_conversion_model
from clickintent.ranker.evaluation_document import round_figures
from clickintent.ranker.provenance import version_fields
from clickintent.ranker.run_record import RANK_RUN_FILE, RANK_STAGE
from clickintent.ranker.tasks import (
    FITTERS,
    TASKS,
    TILE_TASK,
    XGBOOST_THREADS,
    Fit,
    Log,
    Prepared,
    Task,
    conversion_truth,
    load_prepared,
    model_version,
    quiet,
    short_figures,
    vector_element_labels,
    web_rows,
)
from clickintent.ranker.tile_model import TILE_RANKER_DIR, save_tile_ranker
from clickintent.ranker.training_sets import service_features
from clickintent.settings import Settings

TRAINING_FILE = "training.json"
# The model folders one run writes and commits together.
PRODUCTION_DIRS = (TILE_RANKER_DIR, CONVERSION_DIR, ANONYMOUS_RANKER_DIR)
PREDICTIONS_DIR = "predictions"
TILE_PREDICTIONS = "tile_test.parquet"
CONVERSION_PREDICTIONS = "conversion_test.parquet"


def production_fit(settings: Settings, store: Any, task: Task, prepared: Prepared, results: dict[str, RowResult], log: Log) -> Fit:
    """The production service's model on `prepared`: an ablation row's fit when that row has exactly
    the production service's features (same splits and seed make it the same model), else a new fit."""
    layout, columns = prepared.row_layout(service_features(store, task.production_service))
    for result in results.values():
        if result.fit is not None and result.layout.to_json() == layout.to_json():
            log(f"{task.name}: production model ({task.production_service}) is ablation row {result.row.name}'s fit")
            return result.fit
    log(f"{task.name}: training the production model ({task.production_service})")
    return FITTERS[task.name](prepared, columns, layout, seed=settings.seed)


def save_production(
    settings: Settings, task: Task, prepared: Prepared, fit: Fit, *, version: str, element_labels: dict[str, list[str]]
) -> dict[str, Any]:
    """Store `fit` as the task's production model with its card; test predictions and reason
    examples under <reports>/predictions and in the returned summary."""
    layout = fit.layout
    predictions_dir = Path(settings.reports_dir) / PREDICTIONS_DIR
    training = {
        "seed": settings.seed,
        "threads": XGBOOST_THREADS,
        "boosting": task.boosting.to_json(),
        "best_iteration": fit.trained.best_iteration,
        "trees": fit.trained.trees,
        "best_validation_score": fit.trained.best_validation_score,
        "eval_metric": fit.trained.eval_metric,
        "seconds": round(fit.trained.seconds, 2),
        "split_rule": "by label time; train / validation / test in time order"
        + ("; rows whose 14-day label window reaches into the next split are dropped" if task.table.label_window_days else ""),
    }
    metrics = {"validation": round_figures(fit.metrics["validation"]), "test": round_figures(fit.metrics["test"])}
    extra: dict[str, Any] = {"taxonomy_vectors": {name: element_labels[name] for name in element_labels if name in layout.feast_features}}
    # The taxonomy and encoder this model's features came from, for the service's start-up check;
    # only those of views the production layout reads (the fetch may have been a wider service).
    trained_on = {key: value for key, value in prepared.data_versions.items() if key in version_fields(layout)}
    extra.update(trained_on)
    common: dict[str, Any] = dict(
        service=task.production_service,
        version=version,
        data_window=prepared.training_set.window(),
        metrics=metrics,
        training=training,
        extra=extra,
    )
    test = prepared.frames["test"]
    if task is TILE_TASK:
        save_tile_ranker(settings.models_dir, fit.trained.booster, layout, **common)
        out = test[["impression_id", "position", "customer_id", "product_id", "impression_ts", "clicked"]].assign(
            p_click_logged_position=fit.test_predictions[:, 0], p_click_serving_position=fit.test_predictions[:, 1]
        )
        _write_parquet(out, predictions_dir / TILE_PREDICTIONS)
        examples = _tile_reason_examples(settings, test)
        directory = TILE_RANKER_DIR
    else:
        classes = prepared.classes
        save_conversion_model(settings.models_dir, fit.trained.booster, layout, classes=classes, threshold=fit.extra["threshold"], **common)
        out = test[["session_id", "customer_id", "observation_ts", "observation_point", "label_product_family"]].copy()
        for index, name in enumerate(classes):
            out[f"p_{name}"] = fit.test_predictions[:, index]
        # One flag per family beside its probability (the report's calibration and lift plots).
        truth = conversion_truth(test, prepared.families)
        out = pd.concat(
            [out, pd.DataFrame(truth.astype(bool), columns=[f"converted_{family}" for family in prepared.families], index=test.index)],
            axis=1,
        )
        _write_parquet(out, predictions_dir / CONVERSION_PREDICTIONS)
        examples = _conversion_reason_examples(settings, test)
        directory = CONVERSION_DIR
    return {
        "directory": str(Path(settings.models_dir) / directory),
        "feature_service": task.production_service,
        "metrics": metrics,
        "trees": fit.trained.trees,
        "model_columns": len(layout.model_columns),
        "unused_features": dict(layout.unused),
        "trained_on": trained_on,
        "reason_examples": examples,
    }


def training_document(version: str, production: dict[str, dict[str, Any]], seconds: dict[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = {"version": version, "seconds": seconds}
    for task_name, summary in production.items():
        document[f"reason_examples_{task_name}"] = summary.pop("reason_examples")
        document[task_name] = summary
    return document


def train_production_models(settings: Settings, *, log: Log | None = None, store: Any = None) -> dict[str, Any]:
    """Train, test and store the production tile ranker and conversion model (services *_v2) and
    the anonymous-visitor ranker (its production row only).

    Each task's production feature service is fetched from Feast on its own. Also writes the
    test-split predictions under <data_dir>/reports/predictions/ for the report's calibration and
    lift plots, and <data_dir>/reports/training.json. Returns that summary.
    """
    from clickintent.features.store import feature_store

    log = log or quiet
    store = store or feature_store(settings)
    labels = vector_element_labels(settings)
    version = model_version(datetime.now(UTC))
    production: dict[str, dict[str, Any]] = {}
    seconds: dict[str, Any] = {}
    with staged_models(settings) as staged:
        for task in TASKS:
            prepared = load_prepared(settings, store, task, task.production_service, labels, log)
            fetched = time.perf_counter()
            fit = FITTERS[task.name](prepared, None, prepared.layout, seed=settings.seed)
            log(f"{task.name}: {fit.trained.trees} trees in {fit.trained.seconds:.1f} s; test {short_figures(fit.metrics['test'])}")
            production[task.name] = save_production(staged, task, prepared, fit, version=version, element_labels=labels)
            seconds[task.name] = {
                "feast_fetch": round(prepared.training_set.fetch_seconds, 2),
                "encode": round(prepared.seconds, 2),
                "train_and_test": round(time.perf_counter() - fetched, 2),
            }
        from clickintent.ranker.anonymous_training import run_anonymous_step

        anonymous = run_anonymous_step(staged, log=log, store=store, ablation=False)
        summary = training_document(version, production, seconds)
        summary["anonymous_ranker"] = {key: value for key, value in anonymous.items() if key != "model"}
        commit_production(settings, staged, version, summary, {Path(settings.reports_dir) / TRAINING_FILE: summary})
    return summary


@contextmanager
def staged_models(settings: Settings) -> Iterator[Settings]:
    """Settings whose models directory is a fresh staging directory inside the real one (same file
    system, so commit_production's swaps are renames); removed on leaving, committed or not.
    Leftovers of a run killed earlier, and of its swaps, are cleaned first."""
    models_dir = Path(settings.models_dir)
    created = not models_dir.exists()
    recover_directory(models_dir / RANK_RUN_FILE.removesuffix(".json"))
    for name in PRODUCTION_DIRS:
        recover_directory(models_dir / name)
    staging = staging_sibling(models_dir / RANK_RUN_FILE.removesuffix(".json"))
    try:
        yield settings.model_copy(update={"models_dir": staging})
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created and models_dir.is_dir() and not any(models_dir.iterdir()):
            models_dir.rmdir()  # a run that failed before saving anything leaves no trace


def commit_production(settings: Settings, staged: Settings, version: str, training: dict[str, Any], documents: Mapping[Path, Any]) -> None:
    """Swap the staged production models in, write the run's documents, then the run record (module docstring)."""
    models_dir = Path(settings.models_dir)
    mark_in_progress(models_dir, RANK_STAGE, record=RANK_RUN_FILE, version=version)
    for name in PRODUCTION_DIRS:
        if (Path(staged.models_dir) / name).is_dir():
            swap_directory(Path(staged.models_dir) / name, models_dir / name)
        else:
            # Not trained this run (the anonymous ranker without its label mart): an older model
            # must not be served beside this run's.
            shutil.rmtree(models_dir / name, ignore_errors=True)
    for task in TASKS:
        if isinstance(training.get(task.name), dict) and "directory" in training[task.name]:
            training[task.name]["directory"] = str(models_dir / Path(training[task.name]["directory"]).name)
    for path, document in documents.items():
        atomic_write_json(path, document)
    files = sorted(
        path for name in PRODUCTION_DIRS if (models_dir / name).is_dir() for path in (models_dir / name).iterdir() if path.is_file()
    )
    write_commit(models_dir, RANK_STAGE, files, record=RANK_RUN_FILE, version=version)


def _tile_reason_examples(settings: Settings, test: pd.DataFrame, impressions: int = 3) -> list[dict[str, Any]]:
    """Reasons of the stored ranker for a few test impressions with a click and web history."""
    from clickintent.ranker.tile_model import TileRanker

    ranker = TileRanker.load(settings.models_dir)
    chosen = test[test["clicked"].astype(bool) & web_rows(test)]["impression_id"].drop_duplicates().head(impressions)
    examples = []
    for impression in chosen:
        tiles = test[test["impression_id"] == impression]
        rows = [{key: value for key, value in row.items() if key != "position"} for row in tiles.to_dict(orient="records")]
        scores = ranker.score(rows)
        reasons = ranker.reasons(rows, top_k=3)
        examples.append(
            {
                "impression_id": impression,
                "tiles": [
                    {
                        "product_id": row["product_id"],
                        "clicked": bool(row["clicked"]),
                        "score": round(float(score), 5),
                        "reasons": [reason.to_json() for reason in row_reasons],
                    }
                    for row, score, row_reasons in sorted(zip(rows, scores, reasons), key=lambda item: -item[1])
                ],
            }
        )
    return examples


def _conversion_reason_examples(settings: Settings, test: pd.DataFrame, count: int = 3) -> list[dict[str, Any]]:
    from clickintent.ranker.conversion_family import load_conversion_model

    model = load_conversion_model(settings.models_dir)
    chosen = test[(test["label_product_family"] != NO_CONVERSION) & web_rows(test)].head(count)
    rows = chosen.to_dict(orient="records")
    if not rows:
        return []
    probabilities = model.family_probabilities(rows)
    reasons = model.reasons(rows, top_k=3)
    return [
        {
            "session_id": row["session_id"],
            "observation_point": row["observation_point"],
            "converted_to": row["label_product_family"],
            "likeliest_family": max(p, key=p.get),
            "probabilities": {family: round(value, 4) for family, value in p.items()},
            "reasons": [reason.to_json() for reason in row_reasons],
        }
        for row, p, row_reasons in zip(rows, probabilities, reasons)
    ]


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    buffer = io.BytesIO()
    frame.reset_index(drop=True).to_parquet(buffer, index=False)
    atomic_write_bytes(path, buffer.getvalue())
