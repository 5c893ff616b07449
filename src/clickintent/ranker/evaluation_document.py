"""evaluation.json: the ablation table, the issue's checks with paired bootstrap intervals, and
what every figure means."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from clickintent.evaluation.metrics import (
    BOOTSTRAP_RESAMPLES,
    TileTestUnits,
    bootstrap_weights,
    relative_change,
    relative_change_interval,
)
from clickintent.ranker.ablation import AblationRow, RowResult
from clickintent.ranker.tasks import XGBOOST_THREADS
from clickintent.settings import Settings

EVALUATION_FILE = "evaluation.json"
# The paper's figures (production data, not public), for the report's side-by-side.
PAPER = {
    "tile_macro_recall_at_1_change_d_vs_a": 0.0188,
    "tile_logloss_change_d_vs_a": -0.1338,
    "conversion_micro_f1_embedding_over_llm_labels": 0.043,
    "conversion_micro_f1_distilled_below_llm_labels": -0.07,
}


METRIC_COLUMNS = {
    "tile_macro_recall_at_1": ("tile", "macro_recall_at_1", +1),
    "tile_logloss": ("tile", "logloss", -1),
    "conversion_micro_f1": ("conversion", "micro_f1", +1),
    "conversion_auc": ("conversion", "macro_auc", +1),
}
# Per table column: (Fit.extra entry holding the test units, their per-resample method).
BOOTSTRAP_UNITS = {
    "tile_macro_recall_at_1": ("test_units", "macro_recall_at_1"),
    "tile_logloss": ("test_units", "logloss"),
    "conversion_micro_f1": ("test_units", "micro_f1"),
    "conversion_auc": ("test_auc_units", "macro_auc"),
}


def _metric(result: RowResult, split: str, key: str) -> Any:
    return None if result.fit is None else result.fit.metrics[split][key]


def evaluation_document(
    rows: Sequence[AblationRow],
    results: dict[str, dict[str, RowResult]],
    splits: dict[str, Any],
    coverage: dict[str, Any],
    web_units: dict[str, np.ndarray],
    settings: Settings,
) -> dict[str, Any]:
    table = []
    has_baseline = any(row.name == "a_baseline" for row in rows)
    for row in rows:
        by_task = {task: results[task][row.name] for task in results}
        entry: dict[str, Any] = {"name": row.name, "description": row.description}
        for column, (task, key, _) in METRIC_COLUMNS.items():
            entry[column] = round_figure(_metric(by_task[task], "test", key))
        for column, (task, key, _) in METRIC_COLUMNS.items():
            baseline = _metric(results[task]["a_baseline"], "test", key) if has_baseline else None
            value = _metric(by_task[task], "test", key)
            entry[f"{column}_change_vs_a"] = (
                round_figure(relative_change(value, baseline)) if value is not None and baseline is not None else None
            )
        waiting = sorted({reason for result in by_task.values() for reason in result.waiting})
        # "ok", or which stage's output the row still waits for (then it has no figures).
        entry["status"] = "; ".join(waiting) if waiting else "ok"
        entry["required"] = row.required
        entry["tile_micro_recall_at_1"] = round_figure(_metric(by_task["tile"], "test", "micro_recall_at_1"))
        entry["conversion_any_auc"] = round_figure(_metric(by_task["conversion"], "test", "any_conversion_auc"))
        entry["validation"] = {
            column: round_figure(_metric(by_task[task], "validation", key)) for column, (task, key, _) in METRIC_COLUMNS.items()
        }
        entry["services"] = {task: result.service for task, result in by_task.items()}
        entry["model_columns"] = {task: len(result.layout.model_columns) for task, result in by_task.items()}
        entry["trees"] = {task: (result.fit.trained.trees if result.fit else None) for task, result in by_task.items()}
        entry["conversion_threshold"] = by_task["conversion"].fit.extra["threshold"] if by_task["conversion"].fit else None
        entry["train_seconds"] = {task: (round(result.fit.trained.seconds, 2) if result.fit else None) for task, result in by_task.items()}
        entry["identity_free"] = row.identity_free
        entry["added_features"] = {task: list(result.added_features) for task, result in by_task.items()}
        entry["reach"] = {task: _share(result.reach) for task, result in by_task.items()}
        if row.chosen_among:
            entry["chosen"] = {task: result.chosen for task, result in by_task.items()}
        table.append(entry)
    weights = _task_weights(results, settings.seed)
    if has_baseline:
        for entry in table:
            if entry["name"] != "a_baseline":
                entry["vs_a"] = _versus_baseline(entry["name"], results, weights)
    return {
        "rows": table,
        "checks": {**_checks(table, results, settings.seed, web_units), **_in_app_checks(table, coverage)},
        "metric_definitions": {
            "tile_macro_recall_at_1": "test impressions with a click: share where the clicked product is ranked first among the tiles shown (all scored at the serving slot), per clicked product, averaged over products",
            "tile_logloss": "binary cross-entropy of P(click) over every test tile, at the slot it was shown in",
            "conversion_micro_f1": "multi-label F1 over product families (true set: families opened within 14 days; 'none' = empty), pooled over families; threshold on P(family) chosen on the validation split",
            "conversion_auc": "macro one-vs-rest ROC AUC over product families of P(family)",
            "*_change_vs_a": "(row - a_baseline) / |a_baseline| on the test split; for LogLoss negative is better",
            "*_95pct": f"paired bootstrap ({BOOTSTRAP_RESAMPLES} resamples of test impressions or observations, the same resamples for both rows) 2.5 and 97.5 percentiles of the relative change",
            "status": "ok, or the stage whose output the row adds but which has not produced it yet (the row is then not trained and has no figures)",
            "*_web_customers": "the same comparison restricted to test impressions / observations whose customer has any web feature at the label time (the only rows web features can change)",
            "reach": "share of the test tiles (tile) or observations (conversion) where any feature the row adds to (a) has a value at the label time: the rows it can change",
            "vs_a": "per table column: the change against (a) with its paired bootstrap interval on all test units (all) and on the units the row reaches (reached: impressions with a reached tile, observations), with the reached units' count",
            "chosen": "a selection row's choice per task among its candidates, by validation LogLoss (tile) or validation micro-F1 (conversion); its figures are the chosen row's",
        },
        "splits": splits,
        "web_feature_coverage": coverage,
        "conversion_test_positives": _test_positives(results),
        "seed": settings.seed,
        "xgboost_threads": XGBOOST_THREADS,
        "paper": PAPER,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _share(mask: np.ndarray | None) -> float | None:
    return round(float(mask.mean()), 4) if mask is not None and len(mask) else None


def _task_weights(results: dict[str, dict[str, RowResult]], seed: int) -> dict[str, np.ndarray]:
    """One bootstrap weight matrix per task over its test units, shared by every comparison."""
    weights = {}
    for task, by_row in results.items():
        fit = next((result.fit for result in by_row.values() if result.fit is not None), None)
        if fit is not None:
            weights[task] = bootstrap_weights(_unit_count(fit.extra["test_units"]), seed=seed)
    return weights


def _unit_count(units: Any) -> int:
    """Test units of a fit: impressions (TileTestUnits) or observations (ConversionTestUnits)."""
    return len(units.rows) if isinstance(units, TileTestUnits) else len(units.tp)


def _versus_baseline(name: str, results: dict[str, dict[str, RowResult]], weights: dict[str, np.ndarray]) -> dict[str, Any]:
    """Every table column of row `name` against (a): on all test units and on those it reaches."""
    out: dict[str, Any] = {}
    for column, (task, _, _) in METRIC_COLUMNS.items():
        by_row = results.get(task, {})
        row = by_row.get(name)
        units_key, method = BOOTSTRAP_UNITS[column]
        reached = None if row is None or row.fit is None else row.reach_units
        change, interval = _paired_change(by_row, name, "a_baseline", method, weights.get(task), units=units_key)
        reached_change, reached_interval = _paired_change(by_row, name, "a_baseline", method, weights.get(task), reached, units_key)
        out[column] = {
            "all": {"change": change, "interval_95pct": interval},
            "reached": {
                "change": reached_change,
                "interval_95pct": reached_interval,
                "units": None if reached is None else int(reached.sum()),
            },
        }
    return out


def _in_app_checks(table: list[dict[str, Any]], coverage: dict[str, Any]) -> dict[str, Any]:
    """The in-app rows' expectation: (h) lowers tile LogLoss with an interval below zero, on more
    test tiles than the linked web features reach; and which row (k) took."""
    by_name = {row["name"]: row for row in table}
    checks: dict[str, Any] = {}
    h = by_name.get("h_app_embedding")
    if h is not None and "vs_a" in h:
        logloss = h["vs_a"]["tile_logloss"]
        interval = logloss["all"]["interval_95pct"]
        checks["h_status"] = h["status"]
        checks["h_vs_a_tile_logloss_change"] = logloss["all"]["change"]
        checks["h_vs_a_tile_logloss_change_95pct"] = interval
        checks["h_improves_tile_logloss_over_a_interval_below_zero"] = None if interval is None else bool(interval[1] < 0)
        checks["h_tile_reach"] = h["reach"].get("tile")
        checks["web_tile_reach"] = (coverage.get("tile") or {}).get("test")
        if checks["h_tile_reach"] is not None and checks["web_tile_reach"] is not None:
            checks["h_reaches_more_tiles_than_web"] = bool(checks["h_tile_reach"] > checks["web_tile_reach"])
    k = by_name.get("k_identity_free_best")
    if k is not None:
        checks["k_chosen"] = k.get("chosen")
    return checks


def _test_positives(results: dict[str, dict[str, RowResult]]) -> dict[str, int] | None:
    for result in results.get("conversion", {}).values():
        if result.fit is not None:
            return result.fit.metrics["test"]["positives_per_family"]
    return None


def _paired_change(
    results: dict[str, RowResult],
    name: str,
    baseline: str,
    metric: str,
    weights: np.ndarray | None,
    subset: np.ndarray | None = None,
    units: str = "test_units",
) -> tuple[float | None, list[float] | None]:
    """Relative change of `metric` of row `name` against row `baseline` on the test units (or the
    `subset` of them), with its paired bootstrap interval over `weights`."""
    row, base = results.get(name), results.get(baseline)
    if weights is None or row is None or base is None or row.fit is None or base.fit is None:
        return None, None
    row_metric = getattr(row.fit.extra[units], metric)
    base_metric = getattr(base.fit.extra[units], metric)
    mask = np.ones((1, weights.shape[1]), dtype=np.float32) if subset is None else subset[None, :].astype(np.float32)
    if not mask.any():
        return None, None
    point = relative_change(float(row_metric(mask)[0]), float(base_metric(mask)[0]))
    return round_figure(point), relative_change_interval(row_metric(weights * mask), base_metric(weights * mask))


def _checks(
    table: list[dict[str, Any]], results: dict[str, dict[str, RowResult]], seed: int, web_units: dict[str, np.ndarray] | None = None
) -> dict[str, Any]:
    """The issue's must-show checks, each with a paired bootstrap interval of the change, on all
    test rows and on the rows whose customer has web features (`*_web_customers`)."""
    web_units = web_units or {}
    by_name = {row["name"]: row for row in table}
    checks: dict[str, Any] = {}
    tile, conversion = results.get("tile", {}), results.get("conversion", {})
    weights = _task_weights(results, seed)
    tile_weights, conversion_weights = weights.get("tile"), weights.get("conversion")

    def compare(prefix: str, results_of_task, name: str, baseline: str, metric: str, weights, subset) -> None:
        _, checks[f"{prefix}_95pct"] = _paired_change(results_of_task, name, baseline, metric, weights)
        checks[f"{prefix}_web_customers"], checks[f"{prefix}_web_customers_95pct"] = _paired_change(
            results_of_task, name, baseline, metric, weights, subset
        )

    if {"a_baseline", "d_embedding"} <= set(by_name):
        a, d = by_name["a_baseline"], by_name["d_embedding"]
        checks["d_status"] = d["status"]
        checks["d_improves_tile_logloss_over_a"] = _compare(d["tile_logloss"], a["tile_logloss"], lower_is_better=True)
        checks["d_vs_a_tile_logloss_change"] = d["tile_logloss_change_vs_a"]
        compare("d_vs_a_tile_logloss_change", tile, "d_embedding", "a_baseline", "logloss", tile_weights, web_units.get("tile"))
        checks["d_improves_tile_macro_recall_at_1_over_a"] = _compare(d["tile_macro_recall_at_1"], a["tile_macro_recall_at_1"])
        checks["d_vs_a_tile_macro_recall_at_1_change"] = d["tile_macro_recall_at_1_change_vs_a"]
        compare(
            "d_vs_a_tile_macro_recall_at_1_change",
            tile,
            "d_embedding",
            "a_baseline",
            "macro_recall_at_1",
            tile_weights,
            web_units.get("tile"),
        )
    if {"b_teacher_labels", "c_distilled_labels"} <= set(by_name):
        b, c = by_name["b_teacher_labels"], by_name["c_distilled_labels"]
        waiting = sorted({status for status in (b["status"], c["status"]) if status != "ok"})
        checks["c_vs_b_status"] = "; ".join(waiting) if waiting else "ok"
        gap = relative_change(c["conversion_micro_f1"], b["conversion_micro_f1"]) if not waiting else None
        checks["c_vs_b_conversion_micro_f1_change"] = round_figure(gap)
        checks["c_within_7pct_of_b_conversion_micro_f1"] = None if gap is None else bool(gap >= -0.07)
        compare(
            "c_vs_b_conversion_micro_f1_change",
            conversion,
            "c_distilled_labels",
            "b_teacher_labels",
            "micro_f1",
            conversion_weights,
            web_units.get("conversion"),
        )
        checks["c_vs_b_conversion_micro_f1_change_validation"] = (
            round_figure(relative_change(c["validation"]["conversion_micro_f1"], b["validation"]["conversion_micro_f1"]))
            if not waiting
            else None
        )
    if {"b_teacher_labels", "d_embedding"} <= set(by_name):
        # The paper's other conversion figure: embedding over LLM labels (+4.3 % micro-F1).
        b, d = by_name["b_teacher_labels"], by_name["d_embedding"]
        both = b["conversion_micro_f1"] is not None and d["conversion_micro_f1"] is not None
        checks["d_vs_b_conversion_micro_f1_change"] = (
            round_figure(relative_change(d["conversion_micro_f1"], b["conversion_micro_f1"])) if both else None
        )
        compare(
            "d_vs_b_conversion_micro_f1_change",
            conversion,
            "d_embedding",
            "b_teacher_labels",
            "micro_f1",
            conversion_weights,
            web_units.get("conversion"),
        )
    return checks


def _compare(value: float | None, baseline: float | None, lower_is_better: bool = False) -> bool | None:
    if value is None or baseline is None:
        return None
    return bool(value < baseline) if lower_is_better else bool(value > baseline)


def round_figure(value: Any, digits: int = 6) -> Any:
    if value is None:
        return None
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else round(float(value), digits)
    return value


def round_figures(metrics: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        out[key] = round_figures(value) if isinstance(value, dict) else round_figure(value)
    return out
