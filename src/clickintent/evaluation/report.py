"""`clickintent report`: the evaluation as Markdown with PNG plots under <data_dir>/reports/.

Reads what the ranker stage wrote and never trains anything:
- evaluation.json (the ablation, `clickintent rank ablation`): the table and a bar chart of each
  row's relative change against the baseline, the must-show checks and, where one fails, why;
- the production models' cards and test predictions (`clickintent rank train`): calibration
  (reliability) and lift plots, per-family AUC, feature importances (gain, an embedding summed
  into one bar), reason-code examples;
- ranker_designs.json (`clickintent rank designs`): the measurements behind the design choices;
- online_shoppers.json (`clickintent rank cv` on the public dataset), when present;
- replay.json (`clickintent report --replay`, clickintent.evaluation.replay), when present.

Everything is written under temporary names and renamed, report.md last, so a reader never sees
a half-written report. Plots use matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clickintent.artifacts import CARD_FILE, ModelCardError, atomic_write_bytes, read_card
from clickintent.evaluation.metrics import calibration_bins, lift_by_decile
from clickintent.evaluation.replay import REPLAY_FILE
from clickintent.evaluation.replay import report_section as replay_section
from clickintent.settings import Settings
from clickintent.taxonomy.drift import DRIFT_FILE
from clickintent.taxonomy.drift import report_section as drift_section

REPORT_FILE = "report.md"
FIGURES_DIR = "figures"
ROW_LABELS = {
    "a_baseline": "(a) baseline: app-side features",
    "b_teacher_labels": "(b) + teacher intent labels",
    "c_distilled_labels": "(c) + distilled intent labels",
    "d_embedding": "(d) + session embedding",
    "e_embedding_and_labels": "(e) + embedding + distilled labels",
    "f_web_aggregates": "(f) + dbt 30-day web aggregates",
    "g_all_online": "(g) e + f (all servable)",
    "h_app_embedding": "(h) + in-app embedding",
    "i_app_embedding_and_labels": "(i) + in-app embedding + distilled labels",
    "j_app_and_linked_web": "(j) i + linked web (identity)",
    "k_identity_free_best": "(k) best identity-free (validation)",
    "l_app_aggregates": "(l) + dbt 30-day in-app aggregates",
    "m_app_all": "(m) i + l (all identity-free)",
    "n_both_platforms": "(n) g + i (both platforms)",
}
INTERVALS_FIGURE = "ablation_intervals.png"
# (evaluation.json column, title, +1 if higher is better) of the interval plot and table.
INTERVAL_METRICS = (
    ("tile_logloss", "tile LogLoss (lower is better)", -1),
    ("tile_macro_recall_at_1", "tile macro Recall@1", 1),
    ("conversion_micro_f1", "conversion micro-F1", 1),
    ("conversion_auc", "conversion AUC", 1),
)


def write_report(settings: Settings) -> Path:
    """Write <reports>/report.md and its figures; returns the report's path."""
    import matplotlib

    matplotlib.use("Agg")
    reports = Path(settings.reports_dir)
    figures = reports / FIGURES_DIR
    sections: list[str] = [
        "# clickintent evaluation",
        "",
        f"Generated {datetime.now(UTC).isoformat(timespec='seconds')} from `{settings.data_dir}` "
        f"(models in `{settings.models_dir}`). Regenerate: `clickintent rank stage` (or `clickintent rank ablation`, "
        "`clickintent rank train`, then `clickintent report`).",
        "",
    ]
    evaluation = _read_json(reports / "evaluation.json")
    training = _read_json(reports / "training.json")
    sections += _ablation_section(evaluation, figures, Path(settings.models_dir))
    sections += _cross_platform_section(_read_json(reports / "encoder.json"), _read_json(reports / "taxonomy.json"))
    sections += _tile_section(settings, training, figures)
    sections += _conversion_section(settings, training, figures)
    sections += _anonymous_section(_read_json(reports / "anonymous_ranker.json"))
    sections += _designs_section(_read_json(reports / "ranker_designs.json"))
    sections += _online_shoppers_section(_read_json(reports / "online_shoppers.json"))
    sections += replay_section(_read_json(reports / REPLAY_FILE), figures)
    sections += drift_section(_read_json(reports / DRIFT_FILE), figures)
    sections += _timing_section(evaluation, training)
    path = reports / REPORT_FILE
    atomic_write_bytes(path, ("\n".join(sections).rstrip() + "\n").encode("utf-8"))
    return path


# ---------------------------------------------------------------------------------------------
# sections


def _ablation_section(evaluation: dict | None, figures: Path, models_dir: Path | None = None) -> list[str]:
    out = ["## The ablation (paper's evaluation table)", ""]
    if evaluation is None:
        return out + ["Not run yet: `clickintent rank ablation` writes `evaluation.json`.", ""]
    out += [
        "Each row is a feature set (one Feast feature service per task) trained on the same time splits with the same "
        "seed; figures are on the test split (the latest label times). Changes are relative to (a).",
        "",
        "| row | tile macro Recall@1 | Δ vs a | tile LogLoss | Δ vs a | conversion micro-F1 | Δ vs a | conversion AUC | Δ vs a | status |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in evaluation["rows"]:
        out.append(
            f"| {ROW_LABELS.get(row['name'], row['name'])} | {_f(row['tile_macro_recall_at_1'])} | {_pct(row['tile_macro_recall_at_1_change_vs_a'])} "
            f"| {_f(row['tile_logloss'], 5)} | {_pct(row['tile_logloss_change_vs_a'])} | {_f(row['conversion_micro_f1'])} "
            f"| {_pct(row['conversion_micro_f1_change_vs_a'])} | {_f(row['conversion_auc'])} | {_pct(row['conversion_auc_change_vs_a'])} "
            f"| {row.get('status', 'ok')} |"
        )
    out += ["", "Metric definitions:", ""]
    out += [f"- `{name}`: {text}" for name, text in evaluation.get("metric_definitions", {}).items()]
    paper = evaluation.get("paper", {})
    if paper:
        out += [
            "",
            "The paper (production data, not public) reports macro Recall@1 "
            f"{_pct(paper.get('tile_macro_recall_at_1_change_d_vs_a'))} and LogLoss {_pct(paper.get('tile_logloss_change_d_vs_a'))} "
            "for embeddings over the production baseline, embeddings "
            f"{_pct(paper.get('conversion_micro_f1_embedding_over_llm_labels'))} micro-F1 over LLM labels, and distilled labels "
            f"{_pct(paper.get('conversion_micro_f1_distilled_below_llm_labels'))} against LLM labels. Our world is synthetic; the "
            "rows are checks of direction, not targets.",
        ]
    out += ["", _ablation_figure(evaluation, figures), ""]
    out += _checks_text(evaluation, models_dir)
    out += _intervals_text(evaluation, figures.parent)
    splits = evaluation.get("splits", {})
    if splits:
        out += ["", "Splits (by label time):", ""]
        for task, window in splits.items():
            parts = [
                f"{name} {window[name]['rows']:,} rows ({_day(window[name]['from'])} – {_day(window[name]['to'])})"
                for name in ("train", "validation", "test")
            ]
            extra = (
                f"; {window['embargoed_rows']:,} rows dropped by the {window['label_window_days']}-day label-window embargo"
                if window.get("embargoed_rows")
                else ""
            )
            out.append(f"- {task} (`{window['label_table']}`): " + ", ".join(parts) + extra)
        out += _model_stage_window_notes(models_dir, splits)
    return out + [""]


# Model stages whose fitted function feeds ablation rows: (card directory, what it is, rows, how
# to read the end of the sessions it was fitted on from its card).
_STAGE_CARDS = (
    (
        "encoder",
        "session encoder (self-supervised)",
        "(d), (e), (g), (h), (i), (j), (m)",
        lambda card: card["data_window"]["train_sessions_end"][1],
    ),
    (
        "intent_classifier",
        "distilled intent classifier (and the taxonomy and teacher labels it learns)",
        "(b), (c), (e), (g), (i), (j), (m)",
        lambda card: card["data_window"]["end"],
    ),
)


def _model_stage_window_notes(models_dir: Path | None, splits: Mapping[str, Any]) -> list[str]:
    """Say so when a model stage was fitted on sessions from the rankers' validation or test period.

    The customer-level label and embedding features are as-of rows (a training row only averages
    sessions up to its label time), but the classifier and the encoder that turn a session into
    those values are fitted once, without the rankers' labels, on sessions up to their own
    cut-off. Sessions after the ranker's train split then shaped those functions: not label
    leakage, but not a strictly prospective test either.
    """
    out: list[str] = []
    for directory, what, rows, end_of in _STAGE_CARDS:
        card = _read_card(models_dir, directory)
        try:
            stage_end = pd.Timestamp(end_of(card))
        except (TypeError, KeyError, IndexError, ValueError):
            continue
        later = [
            f"{task} {split} (from {_day(window[split]['from'])})"
            for task, window in splits.items()
            for split in ("validation", "test")
            if window.get(split, {}).get("from") and pd.Timestamp(window[split]["from"]) <= stage_end
        ]
        if later:
            out += [
                "",
                f"Caveat: the {what} was fitted on sessions up to {_day(str(stage_end))}, which reaches into the "
                f"{', '.join(later)} splits, without the rankers' labels. Each row's features only aggregate sessions up to "
                f"its label time, but the function computing them has seen later sessions; rows {rows} are therefore not a "
                "strictly prospective test. `CLICKINTENT_FIT_SESSIONS_BEFORE=ranker_validation_start` fits it only on earlier "
                "sessions, and `scripts/prospective_ablation.sh` runs the ablation both ways; on the demo world every row "
                "kept the sign of its tile LogLoss and conversion AUC change against (a) (docs/measurements.md, "
                "'Prospective ablation').",
            ]
    return out


def _checks_text(evaluation: dict, models_dir: Path | None = None) -> list[str]:
    """The issue's checks, each with its paired bootstrap interval and, where one fails, why, from
    the figures of this run (coverage of web features, test positives, the interval)."""
    checks = evaluation.get("checks", {})
    rows = {row["name"]: row for row in evaluation["rows"]}
    coverage = evaluation.get("web_feature_coverage", {})
    out = ["### Must-show checks", ""]
    d = rows.get("d_embedding")
    if d is not None:
        if d.get("status", "ok") != "ok":
            out.append(f"- (d) vs (a): {d['status']} — row (d) has no embedding features yet, so it is not trained and cannot be judged.")
        else:
            logloss_ok = checks.get("d_improves_tile_logloss_over_a")
            recall_ok = checks.get("d_improves_tile_macro_recall_at_1_over_a")
            logloss_interval = checks.get("d_vs_a_tile_logloss_change_95pct")
            recall_interval = checks.get("d_vs_a_tile_macro_recall_at_1_change_95pct")
            out.append(
                f"- (d) improves tile LogLoss over (a): **{_yes(logloss_ok)}** ({_pct(d['tile_logloss_change_vs_a'])}, "
                f"95 % interval {_interval(logloss_interval)}); macro Recall@1: **{_yes(recall_ok)}** "
                f"({_pct(d['tile_macro_recall_at_1_change_vs_a'])}, 95 % interval {_interval(recall_interval)})."
            )
            share = coverage.get("tile", {}).get("test")
            if checks.get("d_vs_a_tile_logloss_change_web_customers") is not None:
                out.append(
                    f"  On the test impressions whose customer has web features ({_share(share)} of test tiles): LogLoss "
                    f"{_pct(checks['d_vs_a_tile_logloss_change_web_customers'])} ({_interval(checks.get('d_vs_a_tile_logloss_change_web_customers_95pct'))}), "
                    f"macro Recall@1 {_pct(checks.get('d_vs_a_tile_macro_recall_at_1_change_web_customers'))} "
                    f"({_interval(checks.get('d_vs_a_tile_macro_recall_at_1_change_web_customers_95pct'))})."
                )
            if not (logloss_ok and recall_ok):
                reasons = []
                if share is not None:
                    reasons.append(
                        f"only {100 * share:.1f} % of the test tiles belong to customers with any web feature at impression time "
                        "(a logged-in web session within the features' 30-day ttl); for the rest (d) has nothing to add"
                    )
                for name, ok, interval, lower in (
                    ("LogLoss", logloss_ok, logloss_interval, True),
                    ("macro Recall@1", recall_ok, recall_interval, False),
                ):
                    if not ok:
                        reasons.append(f"{name}: {_interval_reading(interval, lower)}")
                out.append("  Why not: " + "; ".join(reasons) + ". The generator is not adjusted to pass checks.")
    within = checks.get("c_within_7pct_of_b_conversion_micro_f1")
    if within is None and checks.get("c_vs_b_status", "ok") != "ok":
        out.append(f"- (c) vs (b): {checks['c_vs_b_status']} — the intent-label rows have no labels yet, so they cannot be judged.")
    if within is not None:
        gap, gap_validation = checks.get("c_vs_b_conversion_micro_f1_change"), checks.get("c_vs_b_conversion_micro_f1_change_validation")
        interval = checks.get("c_vs_b_conversion_micro_f1_change_95pct")
        out.append(
            f"- (c) within 7 % of (b) on conversion micro-F1: **{_yes(within)}** (test {_pct(gap)}, 95 % interval "
            f"{_interval(interval)}; validation {_pct(gap_validation)})."
        )
        if checks.get("c_vs_b_conversion_micro_f1_change_web_customers") is not None:
            out.append(
                f"  On the test observations whose customer has web features ({_share(coverage.get('conversion', {}).get('test'))}): "
                f"{_pct(checks['c_vs_b_conversion_micro_f1_change_web_customers'])} "
                f"({_interval(checks.get('c_vs_b_conversion_micro_f1_change_web_customers_95pct'))})."
            )
        if not within:
            positives = evaluation.get("conversion_test_positives") or {}
            total = sum(positives.values()) if positives else None
            share = coverage.get("conversion", {}).get("test")
            reasons = []
            if total:
                reasons.append(f"the test split has {total:,} family conversions ({_family_counts(positives)})")
            if share is not None:
                reasons.append(f"{100 * share:.1f} % of its observations have web features at all")
            reasons.append(_interval_reading(interval, False, threshold=-0.07))
            agreement = _classifier_agreement(models_dir)
            reasons.append(
                "the distilled classifier learns the teacher's labels, so (c) can approach (b) only as far as it reproduces them"
                + (
                    f" (it gives the teacher's top-level intent for {100 * agreement:.1f} % of held-out sessions, per its model card)"
                    if agreement
                    else ""
                )
                + "; the rows also differ in form: (b) carries the recency-weighted share of the teacher's single labels, (c) the "
                "recency-weighted mean of the classifier's probabilities"
            )
            out.append("  Why not: " + "; ".join(reasons) + ". The generator is not adjusted to pass checks.")
    if checks.get("d_vs_b_conversion_micro_f1_change") is not None:
        out.append(
            f"- For the paper's other conversion figure (embedding +4.3 % micro-F1 over LLM labels): (d) vs (b) "
            f"{_pct(checks['d_vs_b_conversion_micro_f1_change'])}, 95 % interval {_interval(checks.get('d_vs_b_conversion_micro_f1_change_95pct'))}."
        )
    return out


def _intervals_text(evaluation: dict, reports: Path) -> list[str]:
    """Every row against (a) with its paired bootstrap interval, on all test units and on those the
    row's added features reach; the in-app rows' expectation; the interval plot beside report.md."""
    rows = [row for row in evaluation["rows"] if "vs_a" in row]
    if not rows:
        return []
    coverage = evaluation.get("web_feature_coverage", {})
    out = [
        "",
        "### Every row against (a), with intervals: on all test rows and on the rows it can change",
        "",
        "Reach: the share of test tiles (observations for conversion) where a feature the row adds to (a) has a value "
        f"at the label time (any linked web feature: tiles {_share(coverage.get('tile', {}).get('test'))}, observations "
        f"{_share(coverage.get('conversion', {}).get('test'))}). Rows (h), (i), (l), (m) read the customer's own app "
        "sessions (no identity link); (j) adds the linked web features (login link, stitched journeys) to (i); (k) is the "
        "identity-free row best on validation.",
        "",
        "| row | tile reach | tile LogLoss Δ [95 %] | on reached | Recall@1 Δ [95 %] | on reached | conversion reach "
        "| micro-F1 Δ [95 %] | on reached | AUC Δ [95 %] | on reached |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        label = ROW_LABELS.get(row["name"], row["name"])
        chosen = row.get("chosen")
        if chosen:
            label += " = " + ", ".join(f"{task} {name.split('_', 1)[0]}" for task, name in chosen.items() if name)
        cells = [label, _share(row["reach"].get("tile"))]
        for column, _, _ in INTERVAL_METRICS:
            if column == "conversion_micro_f1":
                cells.append(_share(row["reach"].get("conversion")))
            figures = row["vs_a"][column]
            cells.append(f"{_pct(figures['all']['change'])} {_interval(figures['all']['interval_95pct'])}")
            cells.append(f"{_pct(figures['reached']['change'])} {_interval(figures['reached']['interval_95pct'])}")
        out.append("| " + " | ".join(cells) + " |")
    checks = evaluation.get("checks", {})
    if "h_improves_tile_logloss_over_a_interval_below_zero" in checks or checks.get("h_status"):
        verdict = checks.get("h_improves_tile_logloss_over_a_interval_below_zero")
        out += [
            "",
            f"- (h) lowers tile LogLoss with an interval below zero: **{_yes(verdict)}** "
            f"({_pct(checks.get('h_vs_a_tile_logloss_change'))}, {_interval(checks.get('h_vs_a_tile_logloss_change_95pct'))}); "
            f"its features reach {_share(checks.get('h_tile_reach'))} of test tiles against {_share(checks.get('web_tile_reach'))} "
            "for the linked web features" + ("." if checks.get("h_status", "ok") == "ok" else f" ({checks['h_status']})."),
        ]
    if checks.get("k_chosen"):
        out.append(
            "- (k), chosen on validation among the identity-free rows: "
            + ", ".join(f"{task} {ROW_LABELS.get(name, name) if name else 'none trained'}" for task, name in checks["k_chosen"].items())
            + "."
        )
    out += ["", _intervals_figure(rows, reports / INTERVALS_FIGURE)]
    return out


def _intervals_figure(rows: list[dict], path: Path) -> str:
    """Forest plot: each row's change against (a) with its 95 % interval, all test rows (dot) and the
    rows it reaches (square), one panel per metric."""
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(INTERVAL_METRICS), figsize=(17, 0.42 * len(rows) + 1.6), sharey=True)
    names = [ROW_LABELS.get(row["name"], row["name"]) for row in rows]
    for axis, (column, title, direction) in zip(axes, INTERVAL_METRICS):
        for offset, scope, marker in ((-0.15, "all", "o"), (0.15, "reached", "s")):
            for index, row in enumerate(rows):
                figures = row["vs_a"][column][scope]
                if figures["change"] is None:
                    continue
                low, high = figures["interval_95pct"] or (figures["change"], figures["change"])
                better = direction * figures["change"] > 0
                color = "#2b8cbe" if better else "#e34a33"
                axis.errorbar(
                    100 * figures["change"],
                    index + offset,
                    xerr=[[100 * (figures["change"] - low)], [100 * (high - figures["change"])]],
                    fmt=marker,
                    color=color,
                    markersize=4,
                    capsize=2,
                    label=None,
                )
        axis.axvline(0, color="black", linewidth=0.8)
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("% change vs (a), 95 % interval")
    axes[0].set_yticks(range(len(rows)), names, fontsize=8)
    axes[0].invert_yaxis()
    axes[0].plot([], [], "o", color="#555555", label="all test rows")
    axes[0].plot([], [], "s", color="#555555", label="rows the features reach")
    axes[0].legend(fontsize=7, loc="lower left")
    save_figure(figure, path)
    return f"![each row's change against (a) with its 95 % interval]({path.name})"


def _classifier_agreement(models_dir: Path | None) -> float | None:
    """Top-level agreement of the distilled intent classifier with its teacher, from its card."""
    card = _read_card(models_dir, "intent_classifier")
    try:
        return float(card["metrics"]["agreement_top_node"]["accuracy"])  # type: ignore[index]
    except (TypeError, KeyError, ValueError):
        return None


def _share(value: Any) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def _interval(interval: Any) -> str:
    if not interval:
        return "–"
    return f"[{_pct(interval[0])}, {_pct(interval[1])}]"


def _interval_reading(interval: Any, lower_is_better: bool, threshold: float = 0.0) -> str:
    """What a paired bootstrap interval of a relative change says about a failed check."""
    if not interval:
        return "no interval could be computed"
    low, high = interval
    if low <= threshold <= high:
        return (
            f"the 95 % interval {_interval(interval)} contains {_pct(threshold) if threshold else '0'}, so on this test split the "
            "difference is within what resampling the test rows moves it by"
        )
    worse = low > threshold if lower_is_better else high < threshold
    if worse:
        return (
            f"the whole 95 % interval {_interval(interval)} is on the worse side: on this world the added features do not help this metric"
        )
    return f"95 % interval {_interval(interval)}"


def _tile_section(settings: Settings, training: dict | None, figures: Path) -> list[str]:
    out = ["## Production tile ranker", ""]
    card = _read_card(settings.models_dir, "tile_ranker")
    predictions_path = Path(settings.reports_dir) / "predictions" / "tile_test.parquet"
    if card is None or not predictions_path.is_file():
        return out + ["Not trained yet: `clickintent rank train`.", ""]
    out += _card_lines(card)
    test = card["metrics"]["test"]
    out += [
        f"Test: macro Recall@1 {_f(test['macro_recall_at_1'])} (micro {_f(test['micro_recall_at_1'])}, "
        f"{test['clicked_impressions']:,} clicked impressions), LogLoss {_f(test['logloss'], 5)}, click rate {_f(test['click_rate'])}.",
        "",
    ]
    predictions = pd.read_parquet(predictions_path)
    labels = predictions["clicked"].astype(int).to_numpy()
    probabilities = predictions["p_click_logged_position"].to_numpy()
    out += [
        _calibration_figure(
            labels, probabilities, "Tile ranker: calibration on test tiles (slot as shown)", figures / "tile_calibration.png"
        ),
        "",
        _lift_figure(labels, probabilities, "Tile ranker: clicks by score decile (test tiles)", figures / "tile_lift.png"),
        "",
        _importance_figure(settings, "tile_ranker", "Tile ranker: feature importance (total gain)", figures / "tile_importance.png"),
        "",
    ]
    out += _reason_examples_tile(training)
    return out


def _conversion_section(settings: Settings, training: dict | None, figures: Path) -> list[str]:
    out = ["## Production conversion model", ""]
    card = _read_card(settings.models_dir, "conversion")
    predictions_path = Path(settings.reports_dir) / "predictions" / "conversion_test.parquet"
    if card is None or not predictions_path.is_file():
        return out + ["Not trained yet: `clickintent rank train`.", ""]
    out += _card_lines(card)
    test = card["metrics"]["test"]
    out += [
        f"Test: micro-F1 {_f(test['micro_f1'])} at threshold {card['threshold']}, macro AUC {_f(test['macro_auc'])}, "
        f"AUC of P(any conversion) {_f(test['any_conversion_auc'])}.",
        "",
        "| family | test AUC | test conversions |",
        "|---|---:|---:|",
    ]
    for family, count in test.get("positives_per_family", {}).items():
        out.append(f"| {family} | {_f(test.get('per_family_auc', {}).get(family))} | {count} |")
    predictions = pd.read_parquet(predictions_path)
    any_conversion = (predictions["label_product_family"] != "none").astype(int).to_numpy()
    p_any = 1.0 - predictions["p_none"].to_numpy()
    out += [
        "",
        _calibration_figure(
            any_conversion, p_any, "Conversion: calibration of P(any conversion in 14 days)", figures / "conversion_calibration.png"
        ),
        "",
        _lift_figure(any_conversion, p_any, "Conversion: conversions by P(any) decile (test)", figures / "conversion_lift.png"),
        "",
        _importance_figure(
            settings, "conversion", "Conversion model: feature importance (total gain)", figures / "conversion_importance.png"
        ),
        "",
    ]
    examples = (training or {}).get("reason_examples_conversion") or []
    if examples:
        out += ["Reason codes for test observations that converted:", ""]
        for example in examples:
            reasons = "; ".join(reason["text"] for reason in example["reasons"]) or "(no positive contribution)"
            out.append(
                f"- {example['observation_point']}, converted to **{example['converted_to']}**, likeliest "
                f"{example['likeliest_family']} ({example['probabilities'][example['likeliest_family']]:.3f}): {reasons}"
            )
        out.append("")
    return out


def _designs_section(designs: dict | None) -> list[str]:
    out = ["## Design choices (validation split)", ""]
    if designs is None:
        return out + ["Not measured in this data directory: `clickintent rank designs` writes `ranker_designs.json`.", ""]
    services = designs.get("feature_services", {})
    out += [
        f"Measured {designs.get('generated_at', '(time not recorded)')} on the production feature services "
        f"(tile `{services.get('tile')}`, conversion `{services.get('conversion')}`); {designs.get('note', '')}. "
        "Rerun `clickintent rank designs` after the inputs change (e.g. a new encoder).",
        "",
        "| tile ranker design | validation macro Recall@1 | validation LogLoss | trees | chosen |",
        "|---|---:|---:|---:|---|",
    ]
    for row in designs["tile"]:
        out.append(
            f"| {row['design']} | {_f(row['validation_macro_recall_at_1'])} | {_f(row['validation_logloss'], 5)} | {row['trees']} | {'yes' if row['chosen'] else ''} |"
        )
    out += ["", "| conversion design | validation micro-F1 | validation macro AUC | trees | chosen |", "|---|---:|---:|---:|---|"]
    for row in designs["conversion"]:
        out.append(
            f"| {row['design']} | {_f(row['validation_micro_f1'])} | {_f(row['validation_macro_auc'])} | {row['trees']} | {'yes' if row['chosen'] else ''} |"
        )
    for row in designs["conversion"]:
        interval = row.get("micro_f1_difference_vs_chosen_95pct")
        if interval:
            out += [
                "",
                f"Micro-F1 of “{row['design']}” minus the chosen design, paired bootstrap 95 % interval on the validation rows: "
                f"[{interval[0]:+.4f}, {interval[1]:+.4f}]"
                + (" — spans 0, so the simpler design (one model, one distribution) is kept." if interval[0] <= 0 <= interval[1] else "."),
            ]
    return out + [""]


CROSS_PLATFORM_CELLS = (
    ("within_web", "web -> web"),
    ("within_app", "app -> app"),
    ("web_to_app", "web -> app"),
    ("app_to_web", "app -> web"),
)


def _cross_platform_section(encoder: dict | None, taxonomy: dict | None) -> list[str]:
    """Whether web and app sessions meet in one intent space: the probe of `clickintent encoder
    evaluate` trained on one platform and tested on the other, beside within-platform."""
    out = ["## One intent space across platforms", ""]
    block = (encoder or {}).get("cross_platform")
    if block is None:
        return out + ["Not measured yet: `clickintent encoder evaluate` (needs the synthetic world's ground truth).", ""]
    if "not_measured" in block:
        return out + [f"Not measured: {block['not_measured']}", ""]
    representations = block["representations"]
    names = list(representations)
    out += [
        "Macro-F1 (accuracy) of an intent probe against the hidden true intents, trained on the sessions of one "
        f"platform before {block.get('time_cutoff', 'the cutoff')} and tested on later sessions of the other "
        "(`clickintent encoder evaluate`, `data/reports/encoder.json`):",
        "",
        "| train -> test | " + " | ".join(name.replace("_", " ") for name in names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for key, label in CROSS_PLATFORM_CELLS:
        cells = []
        for name in names:
            cell = representations[name].get(key) if "not_measured" not in representations[name] else None
            cells.append(f"{_f(cell['macro_f1'], 3)} ({_f(cell['accuracy'], 3)})" if cell else "not measured")
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    target = block.get("target", {})
    if target:
        out += [
            "",
            f"Target: cross-platform macro-F1 at least {target.get('min_ratio')} x within-platform for the "
            f"{target.get('representation')}; lowest measured ratio {_f(target.get('measured_min_ratio'), 3)}: "
            f"**{'met' if target.get('met') else 'not met'}**.",
        ]
    truth = (taxonomy or {}).get("ground_truth", {})
    if "ami_distilled_top_app" in truth:
        out += [
            "",
            f"Distilled intent labels against the hidden intents (AMI, top node): web {_f(truth.get('ami_distilled_top_web'))}, "
            f"app {_f(truth.get('ami_distilled_top_app'))} ({truth.get('sessions_app', 0):,} app sessions).",
        ]
    return out + [""]


def _anonymous_section(document: dict | None) -> list[str]:
    """The anonymous-visitor ranker's ablation (clickintent.ranker.anonymous_training's document)."""
    out = ["## Anonymous visitors: the ranker that answers them", ""]
    if document is None:
        return out + ["Not run here: `clickintent rank stage` (or `clickintent rank anonymous`) writes `anonymous_ranker.json`.", ""]
    test = document.get("rows", [{}])[0].get("test", {})
    families = len(document.get("outcome_rate_per_family", {}).get("train", {})) or "catalogue's"
    out += [
        "Which product family an anonymous web visitor applies for or opens within 14 days of a session, ranked over "
        f"the {families} families; test sessions of visitors who never logged in during the training window ({test.get('sessions', 0):,} "
        f"sessions, {test.get('sessions_with_outcome', 0):,} with an outcome). Change in NDCG@3 against (b), paired bootstrap 95 % interval.",
        "",
        "| row | Recall@1 | Recall@3 | NDCG@3 | AUC | NDCG@3 vs (b) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for row in document.get("rows", []):
        figures = row.get("test")
        if figures is None:
            out.append(f"| {row['name']} | {row.get('status', '')} | | | | |")
            continue
        change = row.get("vs_b_session_aggregates", {}).get("ndcg_at_3", {})
        interval = change.get("change_95pct")
        versus = f"{_pct(change.get('change'))} [{_pct(interval[0])}, {_pct(interval[1])}]" if interval else "–"
        out.append(
            f"| {row['name']} | {_f(figures.get('recall_at_1'), 3)} | {_f(figures.get('recall_at_3'), 3)} | "
            f"{_f(figures.get('ndcg_at_3'), 3)} | {_f(figures.get('auc'), 3)} | {versus} |"
        )
    production = document.get("production")
    if production:
        out += [
            "",
            f"Served: `{production['feature_service']}` (row {production.get('ablation_row', '–')}), version {production['version']}.",
        ]
    return out + [""]


def _online_shoppers_section(result: dict | None) -> list[str]:
    out = ["## Real data: online shoppers (conversion model on a public table)", ""]
    if result is None:
        return out + [
            "Not run here: `clickintent rank cv --table .../online_shoppers_intention.csv --label Revenue --out <data dir>/reports/online_shoppers.json`.",
            "",
        ]
    reference = result.get("published_reference", {"auc": 0.937, "average_precision": 0.754, "source": "PMC10121810 (XGBoost)"})
    out += [
        f"{result.get('folds_k', len(result.get('folds', [])))}-fold stratified CV on {result.get('n_rows', 0):,} sessions: "
        f"AUC **{_f(result['auc'])}**, average precision **{_f(result['average_precision'])}**, micro-F1 {_f(result['micro_f1'])} "
        f"(published XGBoost: AUC {reference['auc']}, AP {reference['average_precision']}, {reference['source']}).",
        "",
    ]
    return out


def _timing_section(evaluation: dict | None, training: dict | None) -> list[str]:
    out = ["## Seconds per stage", ""]
    if evaluation:
        out.append("- ablation run: " + ", ".join(f"{name} {value} s" for name, value in evaluation.get("seconds", {}).items()))
    if training:
        for task, seconds in training.get("seconds", {}).items():
            out.append(f"- production {task} model: " + ", ".join(f"{name.replace('_', ' ')} {value} s" for name, value in seconds.items()))
    return out + [""]


# ---------------------------------------------------------------------------------------------
# figures


def save_figure(figure: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())


def markdown_image(path: Path, alt: str) -> str:
    return f"![{alt}]({FIGURES_DIR}/{path.name})"


def _ablation_figure(evaluation: dict, figures: Path) -> str:
    import matplotlib.pyplot as plt

    rows = [row for row in evaluation["rows"] if row["name"] != "a_baseline"]
    metrics = [  # (key, title, +1 if higher is better)
        ("tile_macro_recall_at_1_change_vs_a", "tile macro Recall@1 (higher is better)", 1),
        ("tile_logloss_change_vs_a", "tile LogLoss (lower is better)", -1),
        ("conversion_micro_f1_change_vs_a", "conversion micro-F1 (higher is better)", 1),
        ("conversion_auc_change_vs_a", "conversion AUC (higher is better)", 1),
    ]
    figure, axes = plt.subplots(1, len(metrics), figsize=(16, 3.8), sharey=True)
    names = [ROW_LABELS.get(row["name"], row["name"]) for row in rows]
    for axis, (key, title, direction) in zip(axes, metrics):
        values = [100 * (row[key] or 0.0) for row in rows]
        # blue: better than (a); red: worse; grey: the row waits for a stage
        colors = [
            "#999999" if "waiting" in str(row.get("status")) else ("#2b8cbe" if direction * value >= 0 else "#e34a33")
            for row, value in zip(rows, values)
        ]
        axis.barh(range(len(rows)), values, color=colors)
        axis.axvline(0, color="black", linewidth=0.8)
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("% change vs (a)")
    axes[0].set_yticks(range(len(rows)), names, fontsize=8)
    axes[0].invert_yaxis()
    path = figures / "ablation_changes.png"
    save_figure(figure, path)
    return markdown_image(path, "relative change of each ablation row against the baseline")


def _calibration_figure(labels: np.ndarray, probabilities: np.ndarray, title: str, path: Path) -> str:
    import matplotlib.pyplot as plt

    bins = calibration_bins(labels, probabilities, bins=10)
    figure, axis = plt.subplots(figsize=(4.6, 4.2))
    predicted = [b["mean_predicted"] for b in bins]
    observed = [b["observed_rate"] for b in bins]
    top = max(max(predicted), max(observed)) * 1.1 or 1.0
    axis.plot([0, top], [0, top], linestyle="--", color="#999999", label="perfect")
    axis.plot(predicted, observed, marker="o", color="#2b8cbe", label="model (equal-count bins)")
    axis.set_xlabel("mean predicted probability")
    axis.set_ylabel("observed rate")
    axis.set_title(title, fontsize=9)
    axis.legend(fontsize=8)
    save_figure(figure, path)
    return markdown_image(path, title)


def _lift_figure(labels: np.ndarray, scores: np.ndarray, title: str, path: Path) -> str:
    import matplotlib.pyplot as plt

    deciles = lift_by_decile(labels, scores, bins=10)
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    left.bar([d["decile"] for d in deciles], [d["lift"] for d in deciles], color="#2b8cbe")
    left.axhline(1.0, color="black", linewidth=0.8)
    left.set_xlabel("score decile (1 = highest)")
    left.set_ylabel("lift over the average rate")
    right.plot(
        [0] + [d["decile"] * 10 for d in deciles],
        [0] + [100 * d["cumulative_capture"] for d in deciles],
        marker="o",
        color="#2b8cbe",
        label="model",
    )
    right.plot([0, 100], [0, 100], linestyle="--", color="#999999", label="random")
    right.set_xlabel("% of rows, highest scores first")
    right.set_ylabel("% of positives captured")
    right.legend(fontsize=8)
    figure.suptitle(title, fontsize=10)
    save_figure(figure, path)
    return markdown_image(path, title)


def _importance_figure(settings: Settings, directory: str, title: str, path: Path, top: int = 20) -> str:
    import matplotlib.pyplot as plt
    import xgboost as xgb

    from clickintent.ranker.layout import FeatureLayout

    model_dir = Path(settings.models_dir) / directory
    card = _read_card(settings.models_dir, directory)
    if card is None:
        return ""
    booster = xgb.Booster(model_file=str(model_dir / card["model_file"]))
    gain = booster.get_score(importance_type="total_gain")
    groups = FeatureLayout.from_json(card["layout"]).reason_group()
    grouped: dict[str, float] = {}
    for column, value in gain.items():
        grouped[groups.get(column, column)] = grouped.get(groups.get(column, column), 0.0) + value
    ranked = sorted(grouped.items(), key=lambda item: -item[1])[:top]
    if not ranked:
        return ""
    figure, axis = plt.subplots(figsize=(7, 0.28 * len(ranked) + 1.2))
    axis.barh(range(len(ranked)), [value for _, value in ranked], color="#2b8cbe")
    axis.set_yticks(range(len(ranked)), [name for name, _ in ranked], fontsize=8)
    axis.invert_yaxis()
    axis.set_xlabel("total gain (vector features summed over elements where grouped)")
    axis.set_title(title, fontsize=10)
    save_figure(figure, path)
    return markdown_image(path, title)


# ---------------------------------------------------------------------------------------------
# small helpers


def _card_lines(card: Mapping[str, Any]) -> list[str]:
    window = card.get("data_window", {})
    train = window.get("train", {})
    test = window.get("test", {})
    unused = card.get("layout", {}).get("unused", {})
    lines = [
        f"Version `{card['version']}`, feature service `{card['feature_service']}` ({len(card['features'])} Feast features, "
        f"{len(card['model_columns'])} model columns), objective `{card['objective']}`, "
        f"{card['training'].get('trees', card['training'].get('best_iteration', 0) + 1)} trees (early stopping on validation {card['training'].get('eval_metric')}), "
        f"trained on {train.get('rows', 0):,} rows from {_day(train.get('from'))} to {_day(train.get('to'))}; "
        f"test {test.get('rows', 0):,} rows from {_day(test.get('from'))}.",
    ]
    if unused:
        lines.append("Features not used: " + "; ".join(f"`{name}` ({why})" for name, why in unused.items()) + ".")
    return lines + [""]


def _reason_examples_tile(training: dict | None) -> list[str]:
    examples = (training or {}).get("reason_examples_tile") or []
    if not examples:
        return []
    out = ["Reason codes for test impressions (tiles ranked as served; the clicked one marked):", ""]
    for example in examples:
        out.append(f"- impression `{example['impression_id']}`:")
        for tile in example["tiles"]:
            reasons = "; ".join(reason["text"] for reason in tile["reasons"]) or "(no positive contribution)"
            mark = " **(clicked)**" if tile["clicked"] else ""
            out.append(f"  - `{tile['product_id']}`{mark} P(click) {tile['score']:.3f}: {reasons}")
    return out + [""]


def _read_json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _read_card(models_dir: Path | None, name: str) -> dict | None:
    """The card of model `name`, or None when there is none to report on (not trained yet, or a card
    that does not fit: the service's start-up checks are where that is an error)."""
    if models_dir is None or not (Path(models_dir) / name / CARD_FILE).is_file():
        return None
    try:
        return read_card(Path(models_dir) / name, name=name)
    except ModelCardError:
        return None


def _f(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def _pct(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{100 * value:+.2f} %"


def _yes(value: Any) -> str:
    return {True: "yes", False: "no", None: "not measurable"}[value]


def _day(value: Any) -> str:
    return str(value)[:10] if value else "–"


def _family_counts(positives: Mapping[str, int]) -> str:
    return ", ".join(f"{family} {count}" for family, count in positives.items())
