"""The `clickintent` command line: one command per pipeline stage, and `demo` to run them all.

Heavy libraries (dbt, Feast, torch) are imported inside the commands so that `--help` is instant.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

import typer
from rich.console import Console

from clickintent.cli.locks import stage_guard
from clickintent.events.shapes import SOURCE_SHAPES
from clickintent.settings import Settings, load_settings

app = typer.Typer(
    name="clickintent",
    help="From clicks to intent: synthetic world, dbt features, Feast, taxonomy, encoder, ranker, serving.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
features_app = typer.Typer(help="Feast feature repository: generate definitions, apply, materialize.", no_args_is_help=True)
app.add_typer(features_app, name="features")


def _add_stage_commands() -> None:
    """Each stage owns its sub-commands in clickintent/cli/<stage>.py."""
    from clickintent.cli.encoder import encoder_app
    from clickintent.cli.rank import rank_app
    from clickintent.cli.report import report_command
    from clickintent.cli.serve import serve
    from clickintent.cli.taxonomy import taxonomy_app

    app.add_typer(taxonomy_app, name="taxonomy")
    app.add_typer(encoder_app, name="encoder")
    app.add_typer(rank_app, name="rank")
    app.command("report")(report_command)
    app.command("serve")(serve)


console = Console(stderr=True)
# Libraries under Feast (ibis) warn about their own deprecated calls on every materialization;
# users of this CLI cannot act on them.
warnings.filterwarnings("ignore", category=DeprecationWarning)


def _settings(data_dir: Path | None = None, seed: int | None = None) -> Settings:
    return load_settings(data_dir=data_dir, seed=seed)


DataDirOption = typer.Option(None, "--data-dir", help="Run-time data directory (default: $CLICKINTENT_DATA_DIR or ./data).")


@app.command()
def generate(
    events: int = typer.Option(1_000_000, "--events", help="Approximate number of raw events to generate."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed (default: settings seed, 7)."),
    source_format: Literal[SOURCE_SHAPES] = typer.Option(
        "contract", "--format", help="Shape of the events: contract, or a tracker's tables (docs/sources.md)."
    ),
    launch: str | None = typer.Option(None, "--launch", help="Launch a product family with an intent of its own mid-window: bnpl."),
    launch_day: int | None = typer.Option(None, "--launch-day", help="Window day the --launch family launches (default 84)."),
    days: int | None = typer.Option(
        None, "--days", help="Write only the window's first N days, the events as day partitions (default: the whole window, one file)."
    ),
    append: bool = typer.Option(
        False, "--append", help="Add the next --days days to a world written with --days (a new batch of day partitions)."
    ),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Generate the synthetic financial-services world into <data dir>/raw (ground truth apart)."""
    from clickintent.synth import generate_world
    from clickintent.synth.launch import DEFAULT_LAUNCH_DAY, Launch
    from clickintent.synth.world import append_world_days

    if append and days is None:
        raise typer.BadParameter("--append needs --days (how many days to add)", param_hint="--append")
    if launch_day is not None and not launch:
        raise typer.BadParameter("only with --launch (the day the launched family appears)", param_hint="--launch-day")
    settings = _settings(data_dir, seed)
    try:
        if append:
            with stage_guard(settings, "generate"):
                summary = append_world_days(settings, days)
            console.print(f"appended {days} day(s): {summary.rows['events']:,} events in a new batch of day partitions")
            return
        launched = Launch(launch, DEFAULT_LAUNCH_DAY if launch_day is None else launch_day) if launch else None
        with stage_guard(settings, "generate"):
            summary = generate_world(settings, target_events=events, source_format=source_format, launch=launched, days=days)
    except ValueError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(code=2) from error
    console.print(summary.as_table())
    if source_format != settings.source_shape:
        console.print(f"events written as {source_format}: build with CLICKINTENT_SOURCE_SHAPE={source_format}")


@app.command()
def load(
    source: Path = typer.Argument(..., help="Directory with events/products/customers/conversions/tile_impressions as .parquet or .csv."),
    append: bool = typer.Option(
        False, "--append", help="Add the source's events to the raw events as a new batch of day partitions (events only)."
    ),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Validate raw tables from a real source against the event contract and install them into <data dir>/raw.

    The contract's tables there are replaced as a set; a tracker's tables there stay. With a
    tracker's source shape (CLICKINTENT_SOURCE_SHAPE) the contract's events are optional. With
    --append the source's events are added as a new batch instead (the next `clickintent build`
    builds them incrementally).
    """
    from clickintent.events import ContractError, load_and_install
    from clickintent.events.loader import append_events

    settings = _settings(data_dir)
    report = lambda line: console.print(line, markup=False, soft_wrap=True)  # noqa: E731
    try:
        with stage_guard(settings, "load"):
            if append:
                counts = append_events(source, settings.raw_dir, report=report)
            else:
                counts = load_and_install(source, settings.raw_dir, report=report, source_shape=settings.source_shape)
    except ContractError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(code=2) from error
    for table, rows in counts.items():
        console.print(f"{table}: {rows:,} rows")


@app.command()
def build(
    data_dir: Path | None = DataDirOption,
    select: str | None = typer.Option(None, "--select", help="dbt selection (default: everything)."),
    target: str = typer.Option(
        "local",
        "--target",
        help="local (DuckDB, the default) or spark (dbt-spark in a local session; pip install -e '.[spark]', docs/spark.md).",
    ),
    full_refresh: bool = typer.Option(
        False, "--full-refresh", help="Rebuild the incremental models from every raw event (dbt's --full-refresh; docs/incremental.md)."
    ),
) -> None:
    """dbt build of dbt_project/ against the DuckDB warehouse in the data directory (models and tests), or with --target spark on Spark.

    Incremental by default: only the raw event files added since the last build are read
    (docs/incremental.md); the build says which it did and why."""
    from clickintent.features.dbt import run_dbt_build

    _require_target(target)
    if full_refresh and target != "local":
        console.print(f"[red]--full-refresh is for the DuckDB build; a {target} build is always full[/red]")
        raise typer.Exit(code=2)
    settings = _settings(data_dir)
    with stage_guard(settings, "build"):
        result = run_dbt_build(settings, select=select, target=target, full_refresh=full_refresh)
    console.print(result.summary())
    if not result.success:
        raise typer.Exit(code=1)


def _require_target(target: str) -> None:
    """Exit (code 2), saying why, unless `target` is local or spark and, for spark, Spark can run here."""
    from clickintent.features.dbt import SPARK_TARGET, spark_build_unavailable

    if target not in ("local", SPARK_TARGET):
        console.print(f"[red]--target must be local or {SPARK_TARGET}, not {target!r}[/red]")
        raise typer.Exit(code=2)
    unavailable = spark_build_unavailable() if target == SPARK_TARGET else None
    if unavailable:
        console.print(f"--target {SPARK_TARGET}: {unavailable}", style="red", markup=False)
        raise typer.Exit(code=2)


@features_app.command("apply")
def features_apply(
    data_dir: Path | None = DataDirOption,
    target: str = typer.Option(
        "local",
        "--target",
        help="local: the DuckDB build's marts (feature_repo/, the default); spark: the Spark build's, "
        "read by Feast's Spark offline store (feature_repo_spark/, its own registry; docs/spark.md).",
    ),
) -> None:
    """Register entities, sources, feature views and services in the Feast registry."""
    from clickintent.features.store import apply_feature_repo

    _require_target(target)
    settings = _settings(data_dir)
    with stage_guard(settings, "features apply"):
        applied = apply_feature_repo(settings, target)
    console.print(f"applied {applied}")


@features_app.command("materialize")
def features_materialize(data_dir: Path | None = DataDirOption) -> None:
    """Load the latest feature values into the online store (incremental; a view whose source changed is loaded again in full)."""
    from clickintent.features.store import materialize

    settings = _settings(data_dir)
    with stage_guard(settings, "features materialize"):
        rows = materialize(settings)
    console.print(f"online rows: {rows:,}")


@features_app.command("generate")
def features_generate(
    check: bool = typer.Option(False, "--check", help="Fail if the committed definitions differ from the manifest's."),
) -> None:
    """Regenerate the Feast data sources and feature views (src/clickintent/feast_repo/) from the dbt manifest."""
    from clickintent.features.codegen import write_generated_definitions

    settings = load_settings()
    with stage_guard(settings, "features generate"):
        changed = write_generated_definitions(settings, check=check)
    if check and changed:
        console.print(f"[red]out of date: {', '.join(map(str, changed))}; run `clickintent features generate`[/red]")
        raise typer.Exit(code=1)
    console.print("up to date" if not changed else f"wrote {', '.join(map(str, changed))}")


@app.command()
def demo(
    events: int = typer.Option(1_000_000, "--events", help="Approximate number of raw events in the demo world."),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Run every stage on the embedded default: generate, dbt, taxonomy, encoder, Feast, rankers and report, then the service."""
    from clickintent.demo import run_demo

    settings = _settings(data_dir)
    with stage_guard(settings, "demo"):
        run_demo(settings, target_events=events, console=console)


_add_stage_commands()


def main() -> None:  # pragma: no cover - console script entry
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
