"""`clickintent report`: the evaluation report (wired in main.py as `app.command("report")(report_command)`)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

console = Console(stderr=True, soft_wrap=True)


def report_command(
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Run-time data directory (default: $CLICKINTENT_DATA_DIR or ./data)."),
    models_dir: Path | None = typer.Option(None, "--models-dir", help="Model directory (default: $CLICKINTENT_MODELS_DIR or ./models)."),
) -> None:
    """Write <data dir>/reports/report.md with the ablation table, calibration and lift plots, feature
    importances and reason-code examples (PNG figures beside it); the online shoppers result if present."""
    from clickintent.evaluation.report import write_report
    from clickintent.settings import load_settings

    path = write_report(load_settings(data_dir=data_dir, models_dir=models_dir))
    console.print(f"report: {path}")
