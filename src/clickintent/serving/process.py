"""A served process: `bentoml serve` on a loopback port in a subprocess, ready-checked, stopped cleanly.

Tests, the benchmark and the demo talk to the service over HTTP exactly as a client would, so
they start it the way `clickintent serve` does. The process gets its own session (process
group) so that stopping it stops its workers too, and nothing is left running.
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
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=timeout)
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
    """Start `bentoml serve target` for these settings on 127.0.0.1 and (by default) wait until ready."""
    port = port or free_port()
    log_path = Path(log_path or settings.reports_dir / f"serve_{target.split(':')[-1].lower()}_{port}.log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("wb")
    process = subprocess.Popen(
        serve_command(target, port, project_dir=settings.project_dir),
        cwd=str(settings.project_dir),
        env=service_environment(settings, workers, extra_environment),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    served = ServedProcess(target=target, port=port, process=process, log_path=log_path, _log=log)
    if wait:
        try:
            served.wait_ready(timeout)
        except BaseException:
            served.stop()
            raise
    return served
