"""`clickintent report`: the evaluation report (wired in main.py as `app.command("report")(report_command)`)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

console = Console(stderr=True, soft_wrap=True)


def report_command(
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Run-time data directory (default: $CLICKINTENT_DATA_DIR or ./data)."),
    models_dir: Path | None = typer.Option(None, "--models-dir", help="Model directory (default: $CLICKINTENT_MODELS_DIR or ./models)."),
    replay: bool = typer.Option(False, "--replay", help="First replay the test period through the service (reports/replay.json)."),
    replay_output: Path | None = typer.Option(
        None, "--replay-output", help="Replay, write replay.json here instead, and leave the report as it is (a read-only data directory)."
    ),
    replay_requests: int = typer.Option(500, "--replay-requests", min=1, help="Replayed requests per kind (seeded by the settings' seed)."),
) -> None:
    """Write <data dir>/reports/report.md with the ablation table, calibration and lift plots, feature
    importances and reason-code examples (PNG figures beside it); the online shoppers result if present."""
    from clickintent.cli.locks import stage_guard
    from clickintent.evaluation.report import write_report
    from clickintent.settings import load_settings

    settings = load_settings(data_dir=data_dir, models_dir=models_dir)
    with stage_guard(settings, "report"):
        if replay or replay_output is not None:
            from clickintent.evaluation.replay import ReplayError, run_replay

            try:
                run_replay(settings, output=replay_output, requests_per_kind=replay_requests, log=console.print)
            except ReplayError as error:
                console.print(f"[red]{error}[/red]")
                raise typer.Exit(1) from error
            if replay_output is not None:
                console.print(f"replay: {replay_output}")
                return
        path = write_report(settings)
    console.print(f"report: {path}")
