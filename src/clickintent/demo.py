"""`clickintent demo`: every stage on the embedded default, with progress and a closing summary.

Stages run in order and each is the same function its own CLI command calls. The encoder runs
before Feast apply and materialize so that its embeddings are served online; the rankers train
on Feast's point-in-time joins, so they come after; the service demo comes last because it
loads every model and reads the online store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from clickintent.settings import Settings

ENCODER_BUDGET_SECONDS = 90.0


@dataclass
class DemoRun:
    settings: Settings
    target_events: int
    console: Console
    facts: dict[str, object] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def _generate(run: DemoRun) -> None:
    from clickintent.synth import generate_world

    summary = generate_world(run.settings, target_events=run.target_events)
    run.facts["raw events"] = summary.events


def _build(run: DemoRun) -> None:
    from clickintent.features.dbt import run_dbt_build

    result = run_dbt_build(run.settings)
    if not result.success:
        raise RuntimeError(f"dbt build failed:\n{result.summary()}")
    run.facts["dbt"] = result.summary().splitlines()[0]


def _taxonomy(run: DemoRun) -> None:
    from clickintent.taxonomy.pipeline import run_taxonomy_stage

    stage = run_taxonomy_stage(run.settings)
    teacher = stage.label.teacher
    run.facts["taxonomy"] = f"{stage.distill.taxonomy_version}, teacher {teacher}, {stage.distill.sessions_labelled:,} sessions labelled"
    if stage.report and "ground_truth" in stage.report:
        run.facts["intent AMI vs hidden truth (distilled, web)"] = round(stage.report["ground_truth"]["ami_distilled_top_web"], 3)


def _rebuild_with_taxonomy(run: DemoRun) -> None:
    from clickintent.features.dbt import run_dbt_build

    # Only what reads the page map: staging of the map and everything downstream of it.
    result = run_dbt_build(run.settings, select="stg_taxonomy__page_map+")
    if not result.success:
        raise RuntimeError(f"dbt rebuild with the taxonomy page map failed:\n{result.summary()}")


def _drift(run: DemoRun) -> None:
    from clickintent.taxonomy.drift import update_due_line, write_drift_report

    # Weekly intent mix against the taxonomy's window, after the rebuild has mapped every page.
    run.facts["taxonomy update due (drift)"] = update_due_line(write_drift_report(run.settings))


def _encoder(run: DemoRun) -> None:
    from clickintent.encoder.pipeline import run_encoder_stage

    # The demo's share of the 10-minute budget; an epoch that would overrun it is not started.
    summary = run_encoder_stage(run.settings, budget_seconds=ENCODER_BUDGET_SECONDS)
    run.facts["encoder"] = f"{summary.version}, {summary.epochs_run} epochs, {summary.sessions_embedded:,} sessions embedded"
    if summary.embedding_macro_f1 is not None:
        run.facts["intent probe macro-F1: embedding vs bag of nodes"] = (
            f"{summary.embedding_macro_f1:.3f} vs {summary.bag_of_nodes_macro_f1:.3f}"
        )


def _apply(run: DemoRun) -> None:
    from clickintent.features.store import apply_feature_repo

    run.facts["feast registry"] = apply_feature_repo(run.settings)


def _materialize(run: DemoRun) -> None:
    from clickintent.features.store import materialize

    run.facts["online rows"] = materialize(run.settings)


def _rankers(run: DemoRun) -> None:
    from clickintent.ranker.pipeline import run_ranker_stage

    # The report is the demo's last stage, after the service has answered.
    result = run_ranker_stage(run.settings, report=False)
    run.facts["rankers"] = f"version {result['version']}"
    shoppers = result.get("online_shoppers", {})
    if "auc" in shoppers:
        run.facts["online shoppers 5-fold AUC / AP"] = f"{shoppers['auc']:.4f} / {shoppers['average_precision']:.4f}"


def _service(run: DemoRun) -> None:
    from clickintent.serving.demo import run_service_demo

    run.facts.update(run_service_demo(run.settings, console=run.console))


def _report(run: DemoRun) -> None:
    from clickintent.evaluation.report import write_report

    # report.md beside evaluation.json and the PNG figures
    run.facts["report"] = str(write_report(run.settings))


STAGES: list[tuple[str, Callable[[DemoRun], None]]] = [
    ("generate the synthetic world", _generate),
    ("dbt build (DuckDB)", _build),
    ("intent taxonomy: generate, map, label, distill", _taxonomy),
    ("dbt build of the taxonomy-mapped features", _rebuild_with_taxonomy),
    ("intent drift by week against the taxonomy's window", _drift),
    ("session encoder: pretrain, embed, probe", _encoder),
    ("Feast apply", _apply),
    ("Feast materialize (online store)", _materialize),
    ("rankers: ablation, production models, online shoppers", _rankers),
    ("BentoML service: three visitors over HTTP", _service),
    ("report: ablation table, calibration, lift, importances", _report),
]


def pipeline_facts(settings: Settings) -> dict[str, object]:
    """Counts read back from what the stages wrote: the warehouse and the marts."""
    from clickintent.features.summary import warehouse_summary

    return warehouse_summary(settings)


def run_demo(settings: Settings, target_events: int = 1_000_000, console: Console | None = None) -> DemoRun:
    console = console or Console(stderr=True)
    run = DemoRun(settings=settings, target_events=target_events, console=console)
    started = time.perf_counter()
    with Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        overall = progress.add_task("clickintent demo", total=len(STAGES))
        for description, stage in STAGES:
            progress.update(overall, description=description)
            stage_started = time.perf_counter()
            stage(run)
            run.timings[description] = time.perf_counter() - stage_started
            progress.advance(overall)
        progress.update(overall, description="clickintent demo: done")
    run.facts.update(pipeline_facts(settings))
    run.timings["total"] = time.perf_counter() - started
    console.print(_summary_table(run))
    return run


def _summary_table(run: DemoRun) -> Table:
    table = Table(title=f"clickintent demo — data in {run.settings.data_dir}")
    table.add_column("what")
    table.add_column("value", justify="right")
    for name, value in run.facts.items():
        table.add_row(name, f"{value:,}" if isinstance(value, int) else str(value))
    for name, seconds in run.timings.items():
        table.add_row(f"time: {name}", f"{seconds:.1f} s")
    return table
