"""`clickintent taxonomy ...`: generate | map | label | distill | review | diff, plus evaluate and
run (all stages). Each command calls one function of clickintent.taxonomy.pipeline.

Wire into the main app with:  app.add_typer(taxonomy_app, name="taxonomy")
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from clickintent.cli.locks import stage_guard

taxonomy_app = typer.Typer(
    help="Intent taxonomy: generate it (offline clustering or TnT-LLM), map pages, label sessions, distil the fast classifier.",
    no_args_is_help=True,
)
console = Console(stderr=True)

DataDir = typer.Option(None, "--data-dir", help="Run-time data directory (default: $CLICKINTENT_DATA_DIR or ./data).")
ModelsDir = typer.Option(None, "--models-dir", help="Model directory (default: $CLICKINTENT_MODELS_DIR or ./models).")
Backend = typer.Option("auto", "--backend", help="auto (LLM if OPENAI_BASE_URL is set, else offline), offline or llm.")
Seed = typer.Option(None, "--seed", help="Random seed (default: settings seed).")


def _settings(data_dir: Path | None, models_dir: Path | None = None, seed: int | None = None):
    from clickintent.settings import load_settings

    return load_settings(data_dir=data_dir, models_dir=models_dir, seed=seed)


def _options(backend: str = "auto", sample_size: int | None = None, label_sample_size: int | None = None, max_top_nodes: int | None = None):
    from dataclasses import replace

    from clickintent.taxonomy.pipeline import TaxonomyOptions

    options = TaxonomyOptions(backend=backend)
    if sample_size is not None:
        options = replace(options, tnt=replace(options.tnt, sample_size=sample_size))
    if label_sample_size is not None:
        options = replace(options, label_sample_size=label_sample_size)
    if max_top_nodes is not None:
        options = replace(
            options,
            offline=replace(options.offline, max_top_nodes=max_top_nodes, min_top_nodes=min(options.offline.min_top_nodes, max_top_nodes)),
            tnt=replace(options.tnt, max_top_nodes=max_top_nodes),
        )
    return options


def _run(function):
    """Run a stage; known failures print one clear message and exit 2 instead of a traceback."""
    from clickintent.taxonomy.distill import DistillError
    from clickintent.taxonomy.inputs import TaxonomyInputError
    from clickintent.taxonomy.labels import TooManyLLMFailures
    from clickintent.taxonomy.llm import LLMError
    from clickintent.taxonomy.model import TaxonomyFileError
    from clickintent.taxonomy.tnt_llm import TaxonomyGenerationError

    try:
        return function()
    except (
        TaxonomyFileError,
        TaxonomyInputError,
        FileNotFoundError,
        LLMError,
        DistillError,
        TooManyLLMFailures,
        TaxonomyGenerationError,
        ValueError,
    ) as error:
        console.print(f"[red]{type(error).__name__}: {error}[/red]")
        raise typer.Exit(code=2) from error


def committing_taxonomy(settings, step: str):
    """The taxonomy outputs' commit around one command (clickintent.taxonomy.commit)."""
    from clickintent.taxonomy.commit import committing_taxonomy as commit

    return commit(settings, step)


def _progress(message: str) -> None:
    console.print(f"[dim]{message}[/dim]")


def _context(settings, options):
    from clickintent.taxonomy.pipeline import StageContext

    return StageContext(settings, options, _progress)


@taxonomy_app.command()
def generate(
    backend: str = Backend,
    sample_size: int | None = typer.Option(None, "--sample-size", help="LLM backend: sessions summarised for generation (default 200)."),
    max_top_nodes: int | None = typer.Option(None, "--max-top-nodes", help="At most this many level-1 nodes."),
    seed: int | None = Seed,
    data_dir: Path | None = DataDir,
) -> None:
    """Generate (or regenerate, keeping the ids of unchanged nodes) <data dir>/taxonomy/taxonomy.yaml."""
    from clickintent.taxonomy.pipeline import generate_taxonomy

    settings = _settings(data_dir, seed=seed)
    context = _context(settings, _options(backend, sample_size=sample_size, max_top_nodes=max_top_nodes))
    try:
        with stage_guard(settings, "taxonomy generate"), committing_taxonomy(settings, "generate"):
            result = _run(lambda: generate_taxonomy(settings, context=context))
    finally:
        context.close()
    state = "new version" if result.changed else "unchanged"
    console.print(f"taxonomy {result.taxonomy.taxonomy_version} ({state}): {result.details['nodes_per_level']} nodes per level")
    if result.renamed_ids:
        console.print(f"{len(result.renamed_ids)} node(s) took a fresh id (no match in the previous version)")


@taxonomy_app.command("map")
def map_command(data_dir: Path | None = DataDir) -> None:
    """Map every page, app screen and known query to a node: <data dir>/taxonomy/page_map.parquet (read by dbt)."""
    from clickintent.taxonomy.pipeline import map_pages

    settings = _settings(data_dir)
    context = _context(settings, _options())
    with stage_guard(settings, "taxonomy map"), committing_taxonomy(settings, "map"):
        result = _run(lambda: map_pages(settings, context=context))
    summary = result.summary
    console.print(
        f"mapped {summary['n_pages_mapped']}/{summary['n_pages']} pages (coverage {summary['coverage']:.1%}; "
        f"{summary['by_source']}) and {summary['n_queries_mapped']} queries; run `clickintent build` to rebuild the mapped features"
    )


@taxonomy_app.command()
def label(
    backend: str = Backend,
    sample_size: int | None = typer.Option(None, "--sample-size", help="LLM teacher: sessions to label (default 4000)."),
    data_dir: Path | None = DataDir,
) -> None:
    """Teacher labels: <data dir>/taxonomy/teacher_labels.parquet (offline: every session; LLM: a sample)."""
    from clickintent.taxonomy.pipeline import label_sessions

    settings = _settings(data_dir)
    context = _context(settings, _options(backend, label_sample_size=sample_size))
    try:
        with stage_guard(settings, "taxonomy label"), committing_taxonomy(settings, "label"):
            result = _run(lambda: label_sessions(settings, context=context))
    finally:
        context.close()
    console.print(f"{result.labelled:,} sessions labelled by {result.teacher}; {len(result.failures)} skipped -> {result.path}")


@taxonomy_app.command()
def distill(
    backend: str = Backend,
    evaluate: bool = typer.Option(
        True, "--evaluate/--no-evaluate", help="Write reports/taxonomy.json (AMI needs a synthetic world's ground truth)."
    ),
    data_dir: Path | None = DataDir,
    models_dir: Path | None = ModelsDir,
) -> None:
    """Validate the (possibly edited) taxonomy, re-map and re-label if stale, train the classifier, label every session."""
    from clickintent.taxonomy.pipeline import distill_classifier

    settings = _settings(data_dir, models_dir)
    context = _context(settings, _options(backend))
    try:
        with stage_guard(settings, "taxonomy distill"), committing_taxonomy(settings, "distill"):
            summary = _run(lambda: distill_classifier(settings, context=context))
    finally:
        context.close()
    agreement = summary.metrics["agreement_node"]
    console.print(
        f"classifier for {summary.taxonomy_version} in {summary.classifier_dir}: held-out agreement with the teacher "
        f"accuracy {agreement['accuracy']:.3f}, macro-F1 {agreement['macro_f1']:.3f}; {summary.sessions_labelled:,} sessions labelled"
    )
    if evaluate:
        _evaluate(settings)


def _evaluate(settings) -> None:
    with stage_guard(settings, "taxonomy evaluate"):
        _write_evaluation(settings)


def _write_evaluation(settings) -> None:
    from clickintent.taxonomy.report import report_frame, write_taxonomy_report

    report = _run(lambda: write_taxonomy_report(settings))
    table = Table(title=f"taxonomy report ({settings.reports_dir / 'taxonomy.json'})")
    table.add_column("what")
    table.add_column("value", justify="right")
    for what, value in report_frame(report).itertuples(index=False):
        if what.startswith(("ground_truth", "nodes", "page_map.coverage", "classifier.agreement")):
            table.add_row(what, f"{value:.4f}" if isinstance(value, float) else str(value))
    console.print(table)


@taxonomy_app.command()
def evaluate(data_dir: Path | None = DataDir, models_dir: Path | None = ModelsDir) -> None:
    """Write <data dir>/reports/taxonomy.json: nodes per level, coverage, agreement, AMI with the hidden intents."""
    _evaluate(_settings(data_dir, models_dir))


@taxonomy_app.command()
def run(
    backend: str = Backend,
    data_dir: Path | None = DataDir,
    models_dir: Path | None = ModelsDir,
    seed: int | None = Seed,
) -> None:
    """All stages: generate, map, label, distill (+ batch labels), report."""
    from clickintent.taxonomy.pipeline import run_taxonomy_stage

    settings = _settings(data_dir, models_dir, seed)
    with stage_guard(settings, "taxonomy run"):
        result = _run(lambda: run_taxonomy_stage(settings, _options(backend), progress=_progress))
    console.print(f"taxonomy stage done in {result.seconds['total']:.1f} s: {result.seconds}")
    if result.report and "ground_truth" in result.report:
        truth = result.report["ground_truth"]
        console.print(f"AMI (distilled, level 1, web sessions) with the hidden intents: {truth['ami_distilled_top_web']}")


@taxonomy_app.command()
def review(
    output_format: str = typer.Option("markdown", "--format", help="markdown or html."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write here instead of standard output."),
    data_dir: Path | None = DataDir,
) -> None:
    """Render the taxonomy for review: tree, sizes, busiest pages, example sessions (redacted)."""
    from clickintent.artifacts import atomic_write_text
    from clickintent.taxonomy.review import render_review

    settings = _settings(data_dir)
    text = _run(lambda: render_review(settings, output_format))
    if output is None:
        typer.echo(text, nl=False)
    else:
        atomic_write_text(output, text)
        console.print(f"wrote {output}")


@taxonomy_app.command()
def diff(
    old: str = typer.Argument(..., help="Old taxonomy: a YAML file, a version number (3 or v3) or 'current'."),
    new: str = typer.Argument("current", help="New taxonomy: a YAML file, a version number or 'current' (default)."),
    output_format: str = typer.Option("markdown", "--format", help="markdown or json."),
    data_dir: Path | None = DataDir,
) -> None:
    """Show the nodes added, removed, renamed, moved or redescribed between two taxonomy versions."""
    from clickintent.taxonomy.diff import diff_taxonomies, resolve_taxonomy
    from clickintent.taxonomy.io import TaxonomyPaths

    paths = TaxonomyPaths.from_settings(_settings(data_dir))
    result = _run(lambda: diff_taxonomies(resolve_taxonomy(old, paths), resolve_taxonomy(new, paths)))
    if output_format == "json":
        typer.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    elif output_format == "markdown":
        typer.echo(result.to_markdown(), nl=False)
    else:
        console.print(f"[red]--format must be markdown or json; got {output_format!r}[/red]")
        raise typer.Exit(code=2)


@taxonomy_app.command()
def update(
    backend: str = Backend,
    since: str | None = typer.Option(
        None, "--since", help="Look at sessions ending at or after this ISO time (default: the end of the classifier's training window)."
    ),
    accept: bool = typer.Option(
        False, "--accept", help="Accept the proposal at once (else review taxonomy/proposal.yaml, then `taxonomy accept`)."
    ),
    fit_until: str = typer.Option(
        "all", "--fit-until", help="On accept: re-fit on sessions ending before this ISO time ('all': every session)."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite taxonomy/proposal.yaml even where it was edited since it was written."),
    data_dir: Path | None = DataDir,
    models_dir: Path | None = ModelsDir,
) -> None:
    """Propose nodes for intents the taxonomy does not cover since its window: taxonomy/proposal.yaml (ids of existing nodes kept)."""
    import pandas as pd

    from clickintent.taxonomy.update import propose_update

    settings = _settings(data_dir, models_dir)
    context = _context(settings, _options(backend))
    try:
        with stage_guard(settings, "taxonomy update"):
            proposal = _run(lambda: propose_update(settings, since=pd.Timestamp(since) if since else None, context=context, force=force))
        coverage = proposal.coverage
        console.print(
            f"since {coverage.since}: {coverage.later_sessions:,} sessions, {len(coverage.new_pages)} new page(s), "
            f"{len(coverage.new_queries)} new query(ies), {_low_confidence_text(coverage.low_confidence_share)}"
        )
        typer.echo(proposal.diff.to_markdown(), nl=False)
        if proposal.path is None:
            console.print("nothing to add: the taxonomy covers the later sessions (no proposal written)")
            return
        if not accept:
            console.print(f"proposal written to {proposal.path}: review or edit it, then `clickintent taxonomy accept`")
            return
        _accept(settings, backend, None, fit_until, context=context)
    finally:
        context.close()


def _low_confidence_text(shares: dict[str, float]) -> str:
    if not shares:
        return "low-confidence sessions: not labelled yet"
    return f"low-confidence sessions {shares['before']:.1%} before, {shares['after']:.1%} since"


@taxonomy_app.command("accept")
def accept_command(
    proposal: Path | None = typer.Argument(None, help="The reviewed proposal (default: <data dir>/taxonomy/proposal.yaml)."),
    backend: str = Backend,
    fit_until: str = typer.Option("all", "--fit-until", help="Re-fit on sessions ending before this ISO time ('all': every session)."),
    data_dir: Path | None = DataDir,
    models_dir: Path | None = ModelsDir,
) -> None:
    """Make the reviewed proposal the next taxonomy version: validate, bump, re-map, re-label, re-distill."""
    _accept(_settings(data_dir, models_dir), backend, proposal, fit_until)


def _accept(settings, backend: str, proposal: Path | None, fit_until: str, context=None) -> None:
    from clickintent.taxonomy.update import accept_proposal

    with stage_guard(settings, "taxonomy accept"):
        result = _run(
            lambda: accept_proposal(
                settings, _options(backend), proposal=proposal, fit_until=fit_until, progress=_progress, context=context
            )
        )
    if not result.changed:
        console.print(f"the proposal is the current taxonomy {result.taxonomy.taxonomy_version}: nothing to accept")
        return
    console.print(
        f"taxonomy {result.taxonomy.taxonomy_version} accepted ({len(result.diff.added)} added, {len(result.diff.removed)} retired, "
        f"{len(result.diff.renamed)} renamed); run `clickintent build` so that dbt maps pages to it"
    )


@taxonomy_app.command()
def drift(data_dir: Path | None = DataDir, models_dir: Path | None = ModelsDir) -> None:
    """Weekly intent mix, low-confidence and new-page shares against the taxonomy's window: <data dir>/reports/drift.json."""
    from clickintent.taxonomy.drift import update_due_line, write_drift_report

    settings = _settings(data_dir, models_dir)
    document = _run(lambda: write_drift_report(settings))
    table = Table(title=f"intent drift against the window ending {document['training_window_end']}")
    for column in ("week", "sessions", "PSI", "low conf.", "new-page views", "flagged"):
        table.add_column(column)
    for week in document["weeks"]:
        table.add_row(
            week["week_start"],
            f"{week['sessions']:,}",
            f"{week['psi']:.3f}",
            f"{week['low_confidence_share']:.1%}",
            f"{week['new_page_view_share']:.1%}",
            "yes" if week["flagged"] else "",
        )
    console.print(table)
    console.print(f"update due: {update_due_line(document)}")
