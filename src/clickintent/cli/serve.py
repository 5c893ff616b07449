"""`clickintent serve [--port N]`: the BentoML service of this checkout, for these settings.

Wired into the main CLI with `app.command("serve")(serve)`. Before BentoML starts, the model
cards and the Feast registry are checked, then a short-lived process loads everything a worker
loads (serving.process.preflight): a missing or unfit model, or a stage's half-written outputs,
is one clear message and exit status 2, never a worker restarting in a loop. The server runs in
its own session and goes with this command: Ctrl-C, SIGTERM, or the server ending on its own
stop the server and every worker (serving.process.stop_process_tree), and a kill -9 of this
command reaches the server as SIGTERM (Linux), so no worker is left holding the port.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text

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
    from clickintent.serving.process import SERVICE, preflight_command, serve_command, service_environment, spawn_server, stop_process_tree
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
    environment = service_environment(settings, workers)
    check = subprocess.run(preflight_command(), cwd=str(settings.project_dir), env=environment, capture_output=True, text=True)
    if check.returncode != 0:
        reason = check.stderr.strip().splitlines()
        message = "\n".join(reason) if check.returncode == 2 else "\n".join(reason[-20:])
        console.print(Text(message or f"the service's start-up check failed (exit status {check.returncode})", style="red"), soft_wrap=True)
        raise typer.Exit(code=2)
    console.print(
        f"serving {', '.join(f'{name} {card.version}' for name, card in cards.items())} from {settings.models_dir}; "
        f"online store {settings.online_store}; http://{host}:{port}/ (Ctrl-C stops)"
    )
    command = serve_command(SERVICE, port, host=host, project_dir=settings.project_dir)
    server = spawn_server(command, cwd=settings.project_dir, env=environment)

    def stop_server(_signum: int, _frame: object) -> None:
        # A supervisor's SIGTERM (docker stop, systemd) reaches this process only.
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_server)
    try:
        returncode = server.wait()
    except KeyboardInterrupt:
        stop_process_tree(server)
        raise typer.Exit(code=0) from None
    stop_process_tree(server)  # workers of a server that ended on its own
    if returncode not in (0, -2, -15, 130, 143):
        console.print(f"[red]the service stopped with exit status {returncode}[/red]")
        raise typer.Exit(code=returncode if returncode > 0 else 1)
