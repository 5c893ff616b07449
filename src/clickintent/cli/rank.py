"""`clickintent rank ...`: stage (all of it), train, ablation, design measurements, cv on any table (wired as `app.add_typer(rank_app, name="rank")`)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

rank_app = typer.Typer(
    help="XGBoost tile ranker and conversion model: train, evaluate (ablation), cross-validate any table.", no_args_is_help=True
)
console = Console(stderr=True, soft_wrap=True)


@rank_app.callback()
def _rank() -> None:
    """XGBoost tile ranker and conversion model: train, evaluate (ablation), cross-validate any table."""


@rank_app.command("cv")
def cv(
    table: Path = typer.Option(..., "--table", help="CSV (with a header row) or Parquet table of features and a label."),
    label: str = typer.Option(..., "--label", help="Label column."),
    out: Path = typer.Option(
        ..., "--out", help="JSON file to write (atomically) with AUC, average precision, micro-F1 and per-fold figures."
    ),
    positive: str | None = typer.Option(
        None, "--positive", help="Label value counted as positive; default: booleans, 0/1 or true/false text."
    ),
    drop: list[str] | None = typer.Option(None, "--drop", help="Column to leave out (repeatable), e.g. identifiers or leaky columns."),
    categorical: list[str] | None = typer.Option(
        None, "--categorical", help="Column to treat as categorical although numeric (repeatable), e.g. region codes."
    ),
    categorical_encoding: str = typer.Option(
        "native", "--categorical-encoding", help="native (XGBoost categorical splits, default) or one_hot."
    ),
    folds: int = typer.Option(5, "--folds", help="Stratified folds."),
    seed: int | None = typer.Option(None, "--seed", help="Seed for folds and models (default: settings seed, 7)."),
    threads: int | None = typer.Option(
        None, "--threads", help="XGBoost threads (default: settings threads). Use 1 when other work shares the cores."
    ),
) -> None:
    """Stratified k-fold cross-validation of the conversion model on TABLE, predicting LABEL."""
    from clickintent.ranker.cross_validation import cross_validate_table
    from clickintent.ranker.tabular import TableError
    from clickintent.settings import load_settings

    if categorical_encoding not in ("native", "one_hot"):
        console.print(f"[red]--categorical-encoding must be native or one_hot, not {categorical_encoding!r}[/red]")
        raise typer.Exit(code=2)
    settings = load_settings(seed=seed, threads=threads)

    def report_fold(result: dict) -> None:
        console.print(
            f"fold {result['fold']}: AUC {result['auc']:.4f}  AP {result['average_precision']:.4f}  "
            f"micro-F1 {result['micro_f1']:.4f}  ({result['best_iteration'] + 1} trees, {result['seconds']:.1f} s)"
        )

    try:
        result = cross_validate_table(
            table,
            label,
            out=out,
            positive=positive,
            drop=drop or [],
            folds=folds,
            seed=settings.seed,
            threads=settings.threads,
            categorical=categorical or [],
            categorical_encoding=categorical_encoding,  # type: ignore[arg-type]
            on_fold=report_fold,
            on_read=lambda line: console.print(line, markup=False, soft_wrap=True),
        )
    except TableError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(code=2) from error
    console.print(
        f"{result['n_rows']:,} rows, {result['n_features']} features, positive rate {result['positive_rate']:.3f}: "
        f"AUC {result['auc']:.4f}  AP {result['average_precision']:.4f}  micro-F1 {result['micro_f1']:.4f} -> {out}"
    )


DataDirOption = typer.Option(None, "--data-dir", help="Run-time data directory (default: $CLICKINTENT_DATA_DIR or ./data).")
ModelsDirOption = typer.Option(None, "--models-dir", help="Model directory (default: $CLICKINTENT_MODELS_DIR or ./models).")


def _stage_settings(data_dir: Path | None, models_dir: Path | None, seed: int | None = None):
    from clickintent.settings import load_settings

    return load_settings(data_dir=data_dir, models_dir=models_dir, seed=seed)


def _run_stage(function, settings, stage: str):
    """Run a ranker stage under the data directory's lock, with its progress lines on stderr; clear
    errors for missing inputs."""
    from clickintent.cli.locks import stage_guard
    from clickintent.ranker.layout import LayoutError
    from clickintent.ranker.training_sets import TrainingSetError

    try:
        with stage_guard(settings, stage):
            return function(settings, log=lambda line: console.print(line))
    except (TrainingSetError, LayoutError, FileNotFoundError) as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(code=2) from error


@rank_app.command("train")
def train(
    data_dir: Path | None = DataDirOption,
    models_dir: Path | None = ModelsDirOption,
    seed: int | None = typer.Option(None, "--seed", help="Seed (default: settings seed, 7)."),
) -> None:
    """Train the production tile ranker and conversion model (feature services tile_ranker_v2, conversion_v2)
    on point-in-time Feast training sets; store them with model cards in <models dir>/tile_ranker and /conversion."""
    from clickintent.ranker.production import train_production_models

    summary = _run_stage(train_production_models, _stage_settings(data_dir, models_dir, seed), "rank train")
    for task in ("tile", "conversion"):
        test = summary[task]["metrics"]["test"]
        figures = "  ".join(f"{key} {test[key]:.4f}" for key in ("macro_recall_at_1", "logloss", "micro_f1", "macro_auc") if key in test)
        console.print(f"{task}: {summary[task]['directory']} (version {summary['version']}, {summary[task]['trees']} trees) test {figures}")


def _print_ablation(report: dict) -> None:
    def figure(value, digits: int = 4) -> str:
        return "–".rjust(digits + 2) if value is None else f"{value:.{digits}f}"

    for row in report["rows"]:
        console.print(
            f"{row['name']:<24} recall@1 {figure(row['tile_macro_recall_at_1'])}  logloss {figure(row['tile_logloss'], 5)}  "
            f"micro-F1 {figure(row['conversion_micro_f1'])}  AUC {figure(row['conversion_auc'])}  {row['status']}"
        )


@rank_app.command("ablation")
def ablation(
    data_dir: Path | None = DataDirOption,
    models_dir: Path | None = ModelsDirOption,
    seed: int | None = typer.Option(None, "--seed", help="Seed (default: settings seed, 7)."),
) -> None:
    """The ablation (rows a-g: baseline, + teacher labels, + distilled labels, + embedding, ...) on the same
    time splits and seed; writes <data dir>/reports/evaluation.json. Rows whose stage output is missing say so."""
    from clickintent.ranker.pipeline import run_ablation

    report = _run_stage(run_ablation, _stage_settings(data_dir, models_dir, seed), "rank ablation")
    _print_ablation(report)
    console.print(f"-> {report['path']}")


# The earlier name of `ablation`, kept so existing scripts keep working.
rank_app.command("evaluate", hidden=True)(ablation)


@rank_app.command("stage")
def stage(
    data_dir: Path | None = DataDirOption,
    models_dir: Path | None = ModelsDirOption,
    seed: int | None = typer.Option(None, "--seed", help="Seed (default: settings seed, 7)."),
    online_shoppers_dir: Path | None = typer.Option(
        None,
        "--online-shoppers-dir",
        help="Folder of online_shoppers_intention.csv (default: $CLICKINTENT_SHARED_DATASETS or ../shared/datasets).",
    ),
    skip_online_shoppers: bool = typer.Option(False, "--skip-online-shoppers", help="Do not run the online shoppers cross-validation."),
    skip_report: bool = typer.Option(False, "--skip-report", help="Do not write the report."),
) -> None:
    """The whole ranker stage as the demo runs it: the ablation (evaluation.json), the production models
    (trained once, shared with their ablation row), the online shoppers CV and the report."""
    from clickintent.ranker.pipeline import run_ranker_stage

    settings = _stage_settings(data_dir, models_dir, seed)

    def run(settings, log):
        return run_ranker_stage(
            settings, log=log, online_shoppers=not skip_online_shoppers, online_shoppers_dir=online_shoppers_dir, report=not skip_report
        )

    result = _run_stage(run, settings, "rank stage")
    evaluation = json.loads(Path(result["evaluation"]).read_text(encoding="utf-8"))
    _print_ablation(evaluation)
    for name in ("evaluation", "training", "report"):
        if name in result:
            console.print(f"{name}: {result[name]}")
    console.print(f"models: {result['models']['tile']}, {result['models']['conversion']} (version {result['version']})")
    console.print(f"seconds: {result['seconds']}")


@rank_app.command("anonymous")
def anonymous(
    data_dir: Path | None = DataDirOption,
    models_dir: Path | None = ModelsDirOption,
    seed: int | None = typer.Option(None, "--seed", help="Seed (default: settings seed, 7)."),
) -> None:
    """The anonymous-visitor ranker's ablation (popularity, session aggregates, + distilled labels, + embedding,
    + journey) on fct_anonymous_session_outcomes; writes <data dir>/reports/anonymous_ranker.json. The served
    model is trained by `rank stage`, with the tile ranker and the conversion model it is committed with."""
    from functools import partial

    from clickintent.ranker.anonymous_training import print_lines, run_anonymous_stage

    document = _run_stage(partial(run_anonymous_stage, production=False), _stage_settings(data_dir, models_dir, seed), "rank anonymous")
    for line in print_lines(document):
        console.print(line)


@rank_app.command("designs")
def designs(
    data_dir: Path | None = DataDirOption,
    models_dir: Path | None = ModelsDirOption,
) -> None:
    """Measure the design alternatives (click model vs learning-to-rank, slot feature, multi-class vs per-family)
    on validation data; writes <data dir>/reports/ranker_designs.json."""
    from clickintent.ranker.designs import compare_designs

    document = _run_stage(compare_designs, _stage_settings(data_dir, models_dir), "rank designs")
    console.print(f"-> {document['path']}")
