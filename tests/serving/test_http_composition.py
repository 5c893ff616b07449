"""RequestLimits and BentoML's composition content type: let through in a dependency worker only.

Driven as ASGI in-process, with bentoml.server_context set as BentoML's worker sets it; the served
composition (a host service with `bentoml.depends(ClickIntent)`) is tests/hosts/test_bentoml_host.py.
"""

from __future__ import annotations

import asyncio

import bentoml
import pytest

from clickintent.serving.http import COMPOSITION_MEDIA_TYPE, DEPENDENCY_SERVICE_TYPE, RequestLimits

BODY = b"\x80\x05pickled"


class Recorder:
    def __init__(self) -> None:
        self.calls: list[bytes] = []

    async def __call__(self, scope, receive, send) -> None:  # noqa: ARG002 - the ASGI signature
        self.calls.append((await receive())["body"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


def _post(media_type: bytes) -> tuple[int, list[bytes]]:
    app = Recorder()
    statuses: list[int] = []
    scope = {"type": "http", "method": "POST", "path": "/recommend", "headers": [(b"content-type", media_type)]}

    async def receive():
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    asyncio.run(RequestLimits(app, max_bytes=1024)(scope, receive, send))
    return statuses[0], app.calls


@pytest.fixture
def service_type(monkeypatch):
    def set_to(value: str | None) -> None:
        monkeypatch.setattr(bentoml.server_context, "service_type", value)

    return set_to


@pytest.mark.parametrize("worker", ["entry_service", None])
def test_the_composition_type_is_refused_on_the_entry_service(service_type, worker) -> None:
    service_type(worker)
    assert _post(COMPOSITION_MEDIA_TYPE) == (415, [])


def test_a_dependency_worker_lets_the_composing_service_in(service_type) -> None:
    service_type(DEPENDENCY_SERVICE_TYPE)
    assert _post(COMPOSITION_MEDIA_TYPE) == (200, [BODY])
    assert _post(b"application/vnd.bentoml+pickle; charset=binary") == (200, [BODY])
    # Only that type: anything else is still refused there.
    assert _post(b"multipart/form-data")[0] == 415
