"""The ablation of two runs side by side: model stages fitted on every session against only on
sessions before the rankers' validation split (scripts/prospective_ablation.sh runs both).

    python scripts/prospective_comparison.py STANDARD_DATA_DIR PROSPECTIVE_DATA_DIR [--markdown F] [--json F]

Reads `<data dir>/reports/evaluation.json` of each (and `taxonomy.json`, `encoder.json` for the
upstream models' own figures, `anonymous_ranker.json` for the anonymous-visitor rows), and prints,
per ablation row, the test figures of both runs and their difference, then each row's change
against (a) with its paired bootstrap interval in both.
Both runs must have the same time splits (the same label marts): the ranker rows then differ only
in what the taxonomy and encoder were fitted on. Exit status 2 when a report is missing or the
splits differ.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from clickintent.artifacts import atomic_write_json, atomic_write_text

# (evaluation.json column, heading, lower is better)
METRICS = (
    ("tile_macro_recall_at_1", "tile macro Recall@1", False),
    ("tile_logloss", "tile LogLoss", True),
    ("conversion_micro_f1", "conversion micro-F1", False),
    ("conversion_auc", "conversion AUC", False),
)
ARMS = ("standard", "prospective")
# The anonymous-visitor ranker's test figures (<reports>/anonymous_ranker.json), compared when both runs have it.
ANONYMOUS_METRICS = ("recall_at_1", "ndcg_at_3", "auc")


class ComparisonError(ValueError):
    pass


def _read(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _split_bounds(evaluation: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {task: (window["validation_start"], window["test_start"]) for task, window in evaluation.get("splits", {}).items()}


def _figure(value: Any, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _percent(value: Any) -> str:
    return "–" if value is None else f"{100 * value:+.2f} %"


def _interval(interval: Any) -> str:
    if not interval or interval[0] is None:
        return ""
    return f" [{100 * interval[0]:+.1f}, {100 * interval[1]:+.1f}]"


def compare(standard_dir: Path, prospective_dir: Path) -> dict[str, Any]:
    """The comparison document; ComparisonError when a report is missing or the splits differ."""
    runs = {}
    for arm, directory in zip(ARMS, (standard_dir, prospective_dir)):
        evaluation = _read(directory / "reports" / "evaluation.json")
        if evaluation is None:
            raise ComparisonError(f"{directory}/reports/evaluation.json not found: run `clickintent rank stage` on {directory}")
        runs[arm] = {
            "data_dir": str(directory),
            "evaluation": evaluation,
            "taxonomy": _read(directory / "reports" / "taxonomy.json") or {},
            "encoder": _read(directory / "reports" / "encoder.json") or {},
            "anonymous": _read(directory / "reports" / "anonymous_ranker.json"),
        }
    bounds = {arm: _split_bounds(run["evaluation"]) for arm, run in runs.items()}
    if bounds["standard"] != bounds["prospective"]:
        raise ComparisonError(f"the runs' time splits differ, so their rows are not comparable: {bounds}")
    rows: list[dict[str, Any]] = []
    by_arm = {arm: {row["name"]: row for row in run["evaluation"]["rows"]} for arm, run in runs.items()}
    for name in [row["name"] for row in runs["standard"]["evaluation"]["rows"]]:
        entry: dict[str, Any] = {"name": name, "status": {arm: by_arm[arm].get(name, {}).get("status", "missing") for arm in ARMS}}
        for column, _, _ in METRICS:
            values = {arm: by_arm[arm].get(name, {}).get(column) for arm in ARMS}
            both = None not in values.values()
            entry[column] = {
                **values,
                "difference": values["prospective"] - values["standard"] if both else None,
                "change_vs_a": {arm: by_arm[arm].get(name, {}).get(f"{column}_change_vs_a") for arm in ARMS},
                "change_vs_a_interval_95pct": {
                    arm: by_arm[arm].get(name, {}).get("vs_a", {}).get(column, {}).get("all", {}).get("interval_95pct") for arm in ARMS
                },
            }
        rows.append(entry)
    upstream = {}
    for arm, run in runs.items():
        truth = run["taxonomy"].get("ground_truth", {})
        upstream[arm] = {
            "fit_sessions_before": run["evaluation"].get("upstream_fit_sessions_before"),
            "taxonomy_version": run["taxonomy"].get("taxonomy_version"),
            "taxonomy_nodes_per_level": run["taxonomy"].get("nodes_per_level"),
            "classifier_train_sessions": run["taxonomy"].get("classifier", {}).get("train_sessions"),
            "ami_distilled_top_web": truth.get("ami_distilled_top_web"),
            "encoder_probe_macro_f1": run["encoder"].get("embedding", {}).get("macro_f1"),
            "bag_of_nodes_probe_macro_f1": run["encoder"].get("bag_of_taxonomy_nodes", {}).get("macro_f1"),
        }
    anonymous = []
    if all(run["anonymous"] is not None for run in runs.values()):
        anonymous_by_arm = {arm: {row["name"]: row for row in run["anonymous"]["rows"]} for arm, run in runs.items()}
        for name in anonymous_by_arm["standard"]:
            entry = {"name": name}
            for metric in ANONYMOUS_METRICS:
                values = {arm: anonymous_by_arm[arm].get(name, {}).get("test", {}).get(metric) for arm in ARMS}
                both = None not in values.values()
                entry[metric] = {**values, "difference": values["prospective"] - values["standard"] if both else None}
            anonymous.append(entry)
    return {"splits": bounds["standard"], "upstream": upstream, "rows": rows, "anonymous_rows": anonymous}


def markdown(document: dict[str, Any]) -> str:
    out = ["| row | " + " | ".join(f"{heading} std / prosp (diff)" for _, heading, _ in METRICS) + " |"]
    out.append("|---" * (len(METRICS) + 1) + "|")
    for row in document["rows"]:
        cells = []
        for column, _, _ in METRICS:
            figures = row[column]
            digits = 5 if column == "tile_logloss" else 4
            difference = "–" if figures["difference"] is None else f"{figures['difference']:+.{digits}f}"
            cells.append(f"{_figure(figures['standard'], digits)} / {_figure(figures['prospective'], digits)} ({difference})")
        out.append(f"| {row['name']} | " + " | ".join(cells) + " |")
    out += ["", "Change against (a), 95 % paired bootstrap interval, standard -> prospective:", ""]
    out.append("| row | " + " | ".join(heading for _, heading, _ in METRICS) + " |")
    out.append("|---" * (len(METRICS) + 1) + "|")
    for row in document["rows"]:
        if row["name"] == "a_baseline":
            continue
        cells = []
        for column, _, _ in METRICS:
            change, interval = row[column]["change_vs_a"], row[column]["change_vs_a_interval_95pct"]
            cells.append(" -> ".join(f"{_percent(change[arm])}{_interval(interval[arm])}" for arm in ARMS))
        out.append(f"| {row['name']} | " + " | ".join(cells) + " |")
    if document["anonymous_rows"]:
        out += ["", "Anonymous-visitor ranker, test, standard / prospective (difference):", ""]
        out.append("| row | " + " | ".join(ANONYMOUS_METRICS) + " |")
        out.append("|---" * (len(ANONYMOUS_METRICS) + 1) + "|")
        for row in document["anonymous_rows"]:
            cells = [
                f"{_figure(row[metric]['standard'])} / {_figure(row[metric]['prospective'])} "
                f"({'–' if row[metric]['difference'] is None else format(row[metric]['difference'], '+.4f')})"
                for metric in ANONYMOUS_METRICS
            ]
            out.append(f"| {row['name']} | " + " | ".join(cells) + " |")
    out += ["", "Upstream models:", ""]
    for arm, figures in document["upstream"].items():
        out.append(f"- {arm}: " + ", ".join(f"{key} {json.dumps(value)}" for key, value in figures.items()))
    splits = "; ".join(f"{task} validation from {bounds[0]}, test from {bounds[1]}" for task, bounds in document["splits"].items())
    out += ["", f"Time splits (the same in both runs): {splits}.", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("standard", type=Path, help="data directory of the run fitted on every session")
    parser.add_argument("prospective", type=Path, help="data directory of the run fitted before the rankers' validation split")
    parser.add_argument("--markdown", type=Path, help="also write the tables here")
    parser.add_argument("--json", type=Path, help="also write the comparison document here")
    args = parser.parse_args(argv)
    try:
        document = compare(args.standard, args.prospective)
    except ComparisonError as error:
        print(error, file=sys.stderr)
        return 2
    text = markdown(document)
    if args.markdown:
        atomic_write_text(args.markdown, text)
    if args.json:
        atomic_write_json(args.json, document)
    if not args.markdown:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
