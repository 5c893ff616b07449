"""A served process: `bentoml serve` on a loopback port in a subprocess, ready-checked, stopped cleanly.

Tests, the benchmark and the demo talk to the service over HTTP exactly as a client would, so
they start it the way `clickintent serve` does. The process gets its own session (process
group) so that stopping it stops its workers too, and nothing is left running: `stop_process_tree`
signals the group and every descendant found before signalling (a worker that left the group
goes too), and on Linux the server gets SIGTERM if whoever started it dies, even by kill -9.

`preflight` loads what a worker loads, once, in a short-lived process: a model that does not
fit is one clear message and exit status 2 before BentoML starts, instead of a worker that
fails its start-up and is restarted in a loop.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from clickintent.settings import Settings

SERVICE = "serving.service:ClickIntent"
FLOOR = "serving.floor_service:Floor"


class ServiceStartError(RuntimeError):
    """The served process exited or never became ready; the message carries its log's tail."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def service_environment(settings: Settings, workers: int = 1, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment that points a served process at these settings."""
    environment = dict(os.environ)
    environment.update(
        {
            "CLICKINTENT_DATA_DIR": str(settings.data_dir),
            "CLICKINTENT_MODELS_DIR": str(settings.models_dir),
            "CLICKINTENT_PROJECT_DIR": str(settings.project_dir),
            "CLICKINTENT_ONLINE_STORE": settings.online_store,
            "CLICKINTENT_REDIS_URL": settings.redis_url,
            "CLICKINTENT_SERVING_WORKERS": str(workers),
            # BentoML's usage statistics would phone home from every test run.
            "BENTOML_DO_NOT_TRACK": "True",
            "PYTHONUNBUFFERED": "1",
        }
    )
    environment.update(extra or {})
    return environment


def _parent_death_signal():
    """A function for the child, before exec, that asks for SIGTERM when the parent dies (Linux
    prctl PR_SET_PDEATHSIG); None elsewhere. libc is loaded here, in the parent, so that the
    forked child only makes the call."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    return lambda: prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def spawn_server(command: list[str], *, cwd: Path, env: Mapping[str, str], **popen: object) -> subprocess.Popen:
    """Start a server in its own session that ends when this process does (module docstring)."""
    return subprocess.Popen(command, cwd=str(cwd), env=dict(env), start_new_session=True, preexec_fn=_parent_death_signal(), **popen)


def stop_process_tree(process: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGTERM to `process`, its process group and every descendant; SIGKILL to whatever is left after `timeout`."""
    import psutil

    try:
        members = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        members = []

    def signal_all(signum: int) -> None:
        try:
            os.killpg(process.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass
        for member in members:
            try:
                member.send_signal(signum)
            except psutil.NoSuchProcess:
                pass

    signal_all(signal.SIGTERM)
    _, alive = psutil.wait_procs(members, timeout=timeout)
    if alive or process.poll() is None:
        signal_all(signal.SIGKILL)
        psutil.wait_procs(alive, timeout=timeout)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass


def preflight_command() -> list[str]:
    """The command that runs `preflight` in a fresh interpreter (the service's environment decides what it checks)."""
    return [sys.executable, "-c", "import sys; from clickintent.serving.process import preflight; sys.exit(preflight())"]


def preflight() -> int:
    """Load the models, the online store and the catalogue as a worker does; 0 if the service can
    start, else 2 with the reason on stderr. Nothing is kept: the process ends after it."""
    from clickintent.serving.artifacts import ArtifactError
    from clickintent.serving.recommender import Recommender
    from clickintent.settings import load_settings

    try:
        Recommender.load(load_settings(), push_on_login=False).close()
    except ArtifactError as error:
        print(error, file=sys.stderr)
        return 2
    return 0


def serve_command(target: str, port: int, host: str = "127.0.0.1", project_dir: Path | None = None) -> list[str]:
    command = [sys.executable, "-m", "bentoml", "serve", target, "--host", host, "--port", str(port)]
    if project_dir is not None:
        command += ["--working-dir", str(project_dir)]
    return command


@dataclass
class ServedProcess:
    """A running `bentoml serve`; use as a context manager or call `stop()`."""

    target: str
    port: int
    process: subprocess.Popen
    log_path: Path
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def lost_its_port(self) -> bool:
        """The server exited because another process held its port (errno EADDRINUSE in its log)."""
        return self.process.poll() is not None and "Address already in use" in self.log_tail(200)

    def wait_ready(self, timeout: float = 120.0) -> ServedProcess:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServiceStartError(f"{self.target} exited with code {self.process.returncode} before it was ready:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise ServiceStartError(f"{self.target} was not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def _members(self) -> list:
        """The server process and its workers (psutil handles), or none once it is gone."""
        import psutil

        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def _total(self, measure) -> float:
        import psutil

        total = 0.0
        for member in self._members():
            try:
                total += measure(member)
            except psutil.NoSuchProcess:
                continue
        return total

    def rss_bytes(self) -> int:
        """Resident memory of the server and its workers together."""
        return int(self._total(lambda member: member.memory_info().rss))

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server and its workers have used so far."""
        return self._total(lambda member: sum(member.cpu_times()[:2]))

    def stop(self, timeout: float = 15.0) -> None:
        stop_process_tree(self.process, timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> ServedProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_service(
    settings: Settings,
    *,
    target: str = SERVICE,
    port: int | None = None,
    workers: int = 1,
    log_path: Path | None = None,
    extra_environment: Mapping[str, str] | None = None,
    wait: bool = True,
    timeout: float = 120.0,
) -> ServedProcess:
    """Start `bentoml serve target` for these settings on 127.0.0.1 and (by default) wait until ready.

    Without a `port`, a free one is picked; another process can take it before the server binds
    it, so a start that fails on the port alone is retried on a new one."""
    attempts_left = 1 if port is not None or not wait else PORT_ATTEMPTS
    while True:
        attempts_left -= 1
        served = _spawn_service(settings, target, port or free_port(), workers, log_path, extra_environment)
        if not wait:
            return served
        try:
            return served.wait_ready(timeout)
        except BaseException as failure:
            served.stop()
            if not (isinstance(failure, ServiceStartError) and attempts_left and served.lost_its_port()):
                raise


# Starts on a picked port before giving up: a port picked free is rarely taken, twice in a row rarer.
PORT_ATTEMPTS = 3


def _spawn_service(
    settings: Settings, target: str, port: int, workers: int, log_path: Path | None, extra_environment: Mapping[str, str] | None
) -> ServedProcess:
    log_path = Path(log_path or settings.reports_dir / f"serve_{target.split(':')[-1].lower()}_{port}.log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("wb")
    process = spawn_server(
        serve_command(target, port, project_dir=settings.project_dir),
        cwd=settings.project_dir,
        env=service_environment(settings, workers, extra_environment),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return ServedProcess(target=target, port=port, process=process, log_path=log_path, _log=log)
