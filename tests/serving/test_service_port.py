"""start_service picks a free port; when another process takes it before the server binds it,
the start is retried on a new port instead of failing (a race a busy test run meets)."""

from __future__ import annotations

import socket

import httpx
import pytest

from clickintent.serving import process
from clickintent.serving.process import FLOOR, start_service
from clickintent.settings import load_settings

pytestmark = pytest.mark.slow


@pytest.fixture
def taken_port():
    """A port another socket listens on for the test's duration."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_a_picked_port_taken_before_the_server_binds_it_is_replaced_by_another(taken_port, tmp_path, monkeypatch) -> None:
    settings = load_settings(environ={}, data_dir=tmp_path / "data")
    picks = iter([taken_port])
    real_free_port = process.free_port
    monkeypatch.setattr(process, "free_port", lambda: next(picks, None) or real_free_port())
    served = start_service(settings, target=FLOOR, log_path=tmp_path / "floor.log", timeout=120)
    try:
        assert served.port != taken_port
        assert httpx.get(f"{served.url}/readyz", timeout=5.0).status_code == 200
    finally:
        served.stop()


def test_a_port_the_caller_chose_is_not_replaced(taken_port, tmp_path) -> None:
    settings = load_settings(environ={}, data_dir=tmp_path / "data")
    with pytest.raises(process.ServiceStartError, match="Address already in use"):
        start_service(settings, target=FLOOR, port=taken_port, log_path=tmp_path / "floor.log", timeout=120)
