"""`clickintent rank ...`: the conversion model on any table (wired as `app.add_typer(rank_app, name="rank")`)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

rank_app = typer.Typer(help="XGBoost conversion model: cross-validation on any table.", no_args_is_help=True)
console = Console(stderr=True, soft_wrap=True)


@rank_app.callback()
def _rank() -> None:
    """XGBoost conversion model: cross-validation on any table."""


@rank_app.command("cv")
def cv(
    table: Path = typer.Option(..., "--table", help="CSV (with a header row) or Parquet table of features and a label."),
    label: str = typer.Option(..., "--label", help="Label column."),
    out: Path = typer.Option(..., "--out", help="JSON file to write (atomically) with AUC, average precision, micro-F1 and per-fold figures."),
    positive: Optional[str] = typer.Option(
        None, "--positive", help="Label value counted as positive; default: booleans, 0/1 or true/false text."
    ),
    drop: Optional[List[str]] = typer.Option(None, "--drop", help="Column to leave out (repeatable), e.g. identifiers or leaky columns."),
    categorical: Optional[List[str]] = typer.Option(
        None, "--categorical", help="Column to treat as categorical although numeric (repeatable), e.g. region codes."
    ),
    categorical_encoding: str = typer.Option(
        "native", "--categorical-encoding", help="native (XGBoost categorical splits, default) or one_hot."
    ),
    folds: int = typer.Option(5, "--folds", help="Stratified folds."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed for folds and models (default: settings seed, 7)."),
    threads: Optional[int] = typer.Option(
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
        )
    except TableError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(code=2) from error
    console.print(
        f"{result['n_rows']:,} rows, {result['n_features']} features, positive rate {result['positive_rate']:.3f}: "
        f"AUC {result['auc']:.4f}  AP {result['average_precision']:.4f}  micro-F1 {result['micro_f1']:.4f} -> {out}"
    )
