"""The taxonomy stage's time budget, and the distilled classifier's latency and agreement.

Runs the whole offline stage (generate, map, label, distill + batch labels of every session,
report) on a data directory whose dbt marts exist, twice: cold (the MiniLM embedding cache
removed, so the model loads and embeds every page and query) and warm (a rerun: the cache and
the previous taxonomy in place). Then the classifier figures of bench/intent_classifier.py.
Budget (docs/design.md, "Targets"): the stage fits comfortably in the demo's 10 minutes on 2 cores;
aimed at <= 90 s on the 1M-event world.

Prints a table and writes JSON to <data dir>/reports/bench_taxonomy.json.

    python bench/taxonomy.py [--data-dir DIR] [--models-dir DIR] [--prepare 1000000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from intent_classifier import measure, prepare, print_result

from clickintent.settings import load_settings
from clickintent.taxonomy.io import TaxonomyPaths
from clickintent.taxonomy.pipeline import TaxonomyOptions, run_taxonomy_stage

BUDGET_SECONDS = 90.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--prepare", type=int, default=None, metavar="EVENTS")
    args = parser.parse_args()
    settings = load_settings(data_dir=args.data_dir, models_dir=args.models_dir)
    result: dict = {"what": "taxonomy stage (offline backend)", "budget_seconds": BUDGET_SECONDS}
    if args.prepare:
        result["preparation_seconds"] = prepare(settings, args.prepare)

    TaxonomyPaths.from_settings(settings).embedding_cache.unlink(missing_ok=True)
    runs = {}
    for name in ("cold", "warm"):
        started = time.perf_counter()
        run = run_taxonomy_stage(settings, TaxonomyOptions(backend="offline"))
        runs[name] = {"wall_seconds": time.perf_counter() - started, "stage_seconds": run.seconds}
    report = run.report or {}
    result["runs"] = runs
    result["meets_budget"] = runs["cold"]["wall_seconds"] <= BUDGET_SECONDS
    result["sessions"] = run.distill.sessions_labelled
    result["report"] = {key: report.get(key) for key in ("taxonomy_version", "nodes_per_level", "page_map", "classifier", "ground_truth")}
    result["classifier"] = measure(settings, args.sessions)

    print(f"taxonomy stage on {result['sessions']:,} sessions (budget {BUDGET_SECONDS:.0f} s)")
    for name, figures in runs.items():
        print(f"  {name}: {figures['wall_seconds']:.1f} s  {figures['stage_seconds']}")
    truth = report.get("ground_truth") or {}
    if truth:
        print(f"  AMI with hidden intents (distilled, level 1, web): {truth.get('ami_distilled_top_web')}")
    print_result(result["classifier"])
    output = settings.reports_dir / "bench_taxonomy.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
