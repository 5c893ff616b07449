"""Distilled intent classifier: per-session latency (single, online path), batch throughput, and
agreement with its teacher.

Needs a data directory where the taxonomy stage has run (`clickintent taxonomy run`, or the
demo); `--prepare EVENTS` builds one first (synthetic world, dbt build, taxonomy stage).

- single: `IntentClassifier.predict_events(events)` on one session's event dicts, as serving
  calls it, over `--sessions` sessions drawn from the mart (seeded), after a warm-up; BLAS
  pinned to one thread as in the service. Target (docs/design.md): p50 <= 0.2 ms.
- batch: features for every session of the mart + one matrix product, per session.
- agreement with the teacher, on the distillation's held-out sessions:
  * accuracy and macro-F1 of the classifier's label against the teacher's (node and level-1);
  * "within 3 % of the teacher" (the target): quality against the hidden true intents, i.e.
    AMI(distilled, truth) >= 0.97 x AMI(teacher, truth) on held-out web sessions — the same
    comparison as the paper's "distilled labels only 7 % below the LLM labels". Needs the
    synthetic world's ground truth (read only through clickintent.taxonomy.evaluation).
Prints a table and writes JSON to <data dir>/reports/bench_intent_classifier.json.

    python bench/intent_classifier.py [--data-dir DIR] [--models-dir DIR] [--sessions 5000] [--prepare 1000000]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from clickintent.settings import Settings, load_settings

TARGET_P50_MS = 0.2
TARGET_RELATIVE_DROP = 0.03


def prepare(settings: Settings, events: int) -> dict[str, float]:
    from clickintent.features.dbt import run_dbt_build
    from clickintent.synth import generate_world
    from clickintent.taxonomy.pipeline import run_taxonomy_stage

    seconds: dict[str, float] = {}
    started = time.perf_counter()
    generate_world(settings, target_events=events)
    seconds["generate_world"] = time.perf_counter() - started
    started = time.perf_counter()
    result = run_dbt_build(settings, quiet=True)
    if not result.success:
        raise SystemExit(f"dbt build failed:\n{result.summary()}")
    seconds["dbt_build"] = time.perf_counter() - started
    run = run_taxonomy_stage(settings)
    seconds.update({f"taxonomy_{name}": value for name, value in run.seconds.items()})
    return seconds


def measure(settings: Settings, n_sessions: int = 5000, warmup: int = 200) -> dict:
    from clickintent.taxonomy.classifier import IntentClassifier
    from clickintent.taxonomy.features import batch_features
    from clickintent.taxonomy.report import build_taxonomy_report
    from clickintent.taxonomy.sessions import SessionBatch

    classifier = IntentClassifier.load(settings.models_dir)
    batch = SessionBatch.load(settings)
    rng = np.random.default_rng(settings.seed)
    rows = rng.choice(len(batch), size=min(n_sessions, len(batch)), replace=False)
    sessions = [batch.events(int(row)) for row in rows]
    with threadpool_limits(limits=1):
        for events in sessions[:warmup]:
            classifier.predict_events(events)
        latencies = np.empty(len(sessions))
        for index, events in enumerate(sessions):
            started = time.perf_counter_ns()
            classifier.predict_events(events)
            latencies[index] = (time.perf_counter_ns() - started) / 1e6
        batch_started = time.perf_counter()
        predictions = classifier.predict_matrix(batch_features(classifier.layout, batch))
        batch_seconds = time.perf_counter() - batch_started
    assert len(predictions.class_index) == len(batch)

    card = classifier.card
    result: dict = {
        "what": "distilled intent classifier",
        "taxonomy_version": classifier.taxonomy_version,
        "teacher": card.get("teacher"),
        "classes": len(classifier.class_ids),
        "features": classifier.layout.n_features,
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "single": {
            "sessions": int(len(sessions)),
            "mean_events_per_session": float(np.mean([len(events) for events in sessions])),
            "p50_ms": float(np.percentile(latencies, 50)),
            "p90_ms": float(np.percentile(latencies, 90)),
            "p99_ms": float(np.percentile(latencies, 99)),
            "mean_ms": float(latencies.mean()),
            "target_p50_ms": TARGET_P50_MS,
            "meets_target": bool(np.percentile(latencies, 50) <= TARGET_P50_MS),
        },
        "batch": {
            "sessions": int(len(batch)),
            "events": int(batch.n_events),
            "seconds": batch_seconds,
            "sessions_per_second": len(batch) / batch_seconds,
            "us_per_session": 1e6 * batch_seconds / len(batch),
        },
        "agreement_with_teacher_heldout": {
            "sessions": card["metrics"]["heldout_sessions"],
            "node": card["metrics"]["agreement_node"],
            "top_node": card["metrics"]["agreement_top_node"],
        },
    }
    report = build_taxonomy_report(settings)
    heldout = report.get("ground_truth", {}).get("heldout")
    if heldout:
        result["quality_vs_teacher_heldout"] = {
            "definition": "relative drop of AMI(distilled, true intent) against AMI(teacher, true intent), level-1 nodes, held-out web sessions",
            **heldout,
            "target_relative_drop": TARGET_RELATIVE_DROP,
        }
    else:
        result["quality_vs_teacher_heldout"] = None  # no ground truth (real data): agreement figures only
    return result


def print_result(result: dict) -> None:
    single, batch = result["single"], result["batch"]
    agreement = result["agreement_with_teacher_heldout"]
    rows = [
        (
            "single p50 / p90 / p99 (ms)",
            f"{single['p50_ms']:.4f} / {single['p90_ms']:.4f} / {single['p99_ms']:.4f}  (target p50 <= {TARGET_P50_MS})",
        ),
        ("batch", f"{batch['sessions']:,} sessions in {batch['seconds']:.2f} s = {batch['us_per_session']:.1f} us/session"),
        ("held-out agreement, node", f"accuracy {agreement['node']['accuracy']:.4f}, macro-F1 {agreement['node']['macro_f1']:.4f}"),
        (
            "held-out agreement, level 1",
            f"accuracy {agreement['top_node']['accuracy']:.4f}, macro-F1 {agreement['top_node']['macro_f1']:.4f}",
        ),
    ]
    quality = result.get("quality_vs_teacher_heldout")
    if quality:
        rows.append(
            (
                "AMI vs truth, teacher -> distilled",
                f"{quality['ami_teacher_top_web']:.4f} -> {quality['ami_distilled_top_web']:.4f} (drop {100 * quality['relative_drop']:.2f} %, target <= 3 %)",
            )
        )
    width = max(len(name) for name, _ in rows)
    print(
        f"intent classifier {result['taxonomy_version']} (teacher {result['teacher']}, {result['classes']} classes, {result['features']} features)"
    )
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument(
        "--prepare", type=int, default=None, metavar="EVENTS", help="first build a world of this many events and run the taxonomy stage"
    )
    args = parser.parse_args()
    settings = load_settings(data_dir=args.data_dir, models_dir=args.models_dir)
    preparation = prepare(settings, args.prepare) if args.prepare else None
    result = measure(settings, args.sessions)
    if preparation:
        result["preparation_seconds"] = preparation
    print_result(result)
    output = settings.reports_dir / "bench_intent_classifier.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
