"""`clickintent serve [--port N]`: the BentoML service of this checkout, for these settings.

Wired into the main CLI with `app.command("serve")(serve)`. Models and the Feast registry are
checked before BentoML starts, so a missing model is one clear line and exit code 2, not a
worker restarting in a loop.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import typer
from rich.console import Console

console = Console(stderr=True)


def serve(
    port: int = typer.Option(3000, "--port", help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (0.0.0.0 to accept other hosts, e.g. in a container)."),
    workers: int = typer.Option(1, "--workers", help="Worker processes; each pins torch, OpenMP and XGBoost to one thread."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Run-time data directory (default: $CLICKINTENT_DATA_DIR or ./data)."),
    models_dir: Path | None = typer.Option(None, "--models-dir", help="Model directory (default: $CLICKINTENT_MODELS_DIR or ./models)."),
    online_store: str | None = typer.Option(
        None, "--online-store", help="sqlite (default; one process, rare pushes) or redis (concurrent login pushes, several workers)."
    ),
    redis_url: str | None = typer.Option(None, "--redis-url", help="Redis host:port when --online-store redis (default localhost:6379)."),
) -> None:
    """Serve /recommend, /intent and /embed (Swagger UI at http://HOST:PORT/)."""
    from clickintent.serving.artifacts import ArtifactError, read_model_cards
    from clickintent.serving.process import SERVICE, serve_command, service_environment
    from clickintent.serving.recommender import default_model_dirs
    from clickintent.settings import load_settings

    if online_store is not None and online_store not in ("sqlite", "redis"):
        console.print(f"[red]--online-store must be sqlite or redis, not {online_store!r}[/red]")
        raise typer.Exit(code=2)
    settings = load_settings(data_dir=data_dir, models_dir=models_dir, online_store=online_store, redis_url=redis_url)
    try:
        cards = read_model_cards(default_model_dirs(settings.models_dir))
    except ArtifactError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(code=2) from error
    registry = settings.feast_dir / "registry.db"
    if not registry.is_file():
        console.print(
            f"[red]no Feast registry at {registry}: run `clickintent features apply` and `clickintent features materialize`[/red]"
        )
        raise typer.Exit(code=2)
    console.print(
        f"serving {', '.join(f'{name} {card.version}' for name, card in cards.items())} from {settings.models_dir}; "
        f"online store {settings.online_store}; http://{host}:{port}/ (Ctrl-C stops)"
    )
    command = serve_command(SERVICE, port, host=host, project_dir=settings.project_dir)
    server = subprocess.Popen(command, cwd=str(settings.project_dir), env=service_environment(settings, workers))

    def stop_server(signum: int, _frame: object) -> None:
        # A supervisor's SIGTERM (docker stop, systemd) reaches this process only: pass it on,
        # or BentoML and its workers outlive the command and keep the port.
        server.send_signal(signum)

    signal.signal(signal.SIGTERM, stop_server)
    try:
        returncode = server.wait()
    except KeyboardInterrupt:
        # Ctrl-C reached the whole process group; BentoML shuts its workers down.
        server.wait()
        raise typer.Exit(code=0) from None
    if returncode not in (0, -2, -15, 130, 143):
        raise typer.Exit(code=returncode)
