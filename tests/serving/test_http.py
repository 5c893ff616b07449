"""clickintent.serving.http in-process: the load limits of RequestLimits driven as ASGI, and the
log filter that keeps rejected values out of BentoML's log.

The app behind the middleware is a stand-in that records when it is called; the same middleware
in the served process is tested over HTTP in test_overload.py.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from clickintent.serving.http import (
    BENTOML_REQUEST_ERROR_LOGGER,
    CLIENT_CLOSED_REQUEST,
    RejectedRequestLog,
    RequestLimits,
    field_error,
    install_rejected_request_log,
    shed_requests,
)

BODY = b'{"k": 3}'
SCOPE = {
    "type": "http",
    "method": "POST",
    "path": "/recommend",
    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())],
}


class Recorder:
    """A stand-in app: records each call; `hold` keeps a call open until released, `compute_s`
    blocks the event loop as the service's computation does."""

    def __init__(self, compute_s: float = 0.0) -> None:
        self.calls: list[bytes] = []
        self.compute_s = compute_s
        self.hold: asyncio.Event | None = None

    async def __call__(self, scope, receive, send) -> None:  # noqa: ARG002 - the ASGI signature
        message = await receive()
        self.calls.append(message["body"])
        if self.hold is not None:
            await self.hold.wait()
        if self.compute_s:
            time.sleep(self.compute_s)  # the loop is blocked, as by the service's computation
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


def client(body: bytes = BODY, gone: bool = False):
    """An ASGI receive: the body, then a disconnect if the client has gone, else nothing more."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        if pending:
            return pending.pop(0)
        if gone:
            return {"type": "http.disconnect"}
        await asyncio.Event().wait()

    return receive


class Answer:
    def __init__(self) -> None:
        self.messages: list[dict] = []

    async def __call__(self, message: dict) -> None:
        self.messages.append(message)

    @property
    def status(self) -> int | None:
        return next((m["status"] for m in self.messages if m["type"] == "http.response.start"), None)

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(next(m["headers"] for m in self.messages if m["type"] == "http.response.start"))

    @property
    def json(self) -> dict:
        return json.loads(b"".join(m.get("body", b"") for m in self.messages if m["type"] == "http.response.body"))


def shed_count(reason: str) -> float:
    return shed_requests().labels(reason=reason)._value.get()


def test_past_capacity_a_request_is_answered_503_with_retry_after_and_never_reaches_the_app() -> None:
    async def scenario():
        app = Recorder()
        app.hold = asyncio.Event()
        limits = RequestLimits(app, max_bytes=1024, max_concurrency=1)
        first, second = Answer(), Answer()
        holding = asyncio.create_task(limits(SCOPE, client(), first))
        while not app.calls:
            await asyncio.sleep(0)
        before = shed_count("over_capacity")
        await limits(SCOPE, client(b'{"k": 4}'), second)
        assert shed_count("over_capacity") == before + 1
        app.hold.set()
        await holding
        return app, first, second

    app, first, second = asyncio.run(scenario())
    assert first.status == 200 and second.status == 503
    assert second.headers[b"retry-after"] == b"1" and "capacity" in second.json["error"]
    assert app.calls == [BODY]  # the second request was never computed


def test_requests_admitted_together_run_one_at_a_time_in_arrival_order() -> None:
    async def scenario():
        app = Recorder()
        limits = RequestLimits(app, max_bytes=1024, max_concurrency=3)
        answers = [Answer() for _ in range(3)]
        await asyncio.gather(*(limits(SCOPE, client(f'{{"k": {i}}}'.encode()), answers[i]) for i in range(3)))
        return app, answers

    app, answers = asyncio.run(scenario())
    assert [answer.status for answer in answers] == [200, 200, 200]
    assert app.calls == [b'{"k": 0}', b'{"k": 1}', b'{"k": 2}']


def test_a_request_that_waited_past_the_deadline_is_answered_503_uncomputed() -> None:
    async def scenario():
        # The first computation blocks the loop for 50 ms; the second request, admitted with it,
        # has waited at least that long when its turn comes, past a 10 ms deadline.
        app = Recorder(compute_s=0.05)
        limits = RequestLimits(app, max_bytes=1024, max_concurrency=2, queue_deadline_s=0.01)
        first, second = Answer(), Answer()
        before = shed_count("queue_deadline")
        await asyncio.gather(limits(SCOPE, client(), first), limits(SCOPE, client(b'{"k": 4}'), second))
        assert shed_count("queue_deadline") == before + 1
        return app, first, second

    app, first, second = asyncio.run(scenario())
    assert first.status == 200 and second.status == 503 and second.headers[b"retry-after"] == b"1"
    assert "waited" in second.json["error"] and app.calls == [BODY]


def test_a_request_whose_client_has_gone_is_dropped_before_it_is_computed() -> None:
    async def scenario():
        app = Recorder()
        limits = RequestLimits(app, max_bytes=1024, max_concurrency=2)
        gone, present = Answer(), Answer()
        before = shed_count("client_gone")
        await limits(SCOPE, client(b'{"k": 4}', gone=True), gone)
        await limits(SCOPE, client(), present)
        assert shed_count("client_gone") == before + 1
        return app, gone, present

    app, gone, present = asyncio.run(scenario())
    assert gone.status == CLIENT_CLOSED_REQUEST and present.status == 200
    assert app.calls == [BODY]


def test_without_a_limit_every_request_reaches_the_app() -> None:
    async def scenario():
        app = Recorder()
        limits = RequestLimits(app, max_bytes=1024)
        answers = [Answer() for _ in range(20)]
        await asyncio.gather(*(limits(SCOPE, client(gone=True), answer) for answer in answers))
        return app, answers

    app, answers = asyncio.run(scenario())
    assert len(app.calls) == 20 and {answer.status for answer in answers} == {200}


# ---- rejected values never logged ----------------------------------------------------------


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid")

    anonymous_id: str = Field(pattern=r"^\S+$")
    platform: str = Field(pattern=r"^(web|app)$")
    k: int


EMAIL = "jane.doe@example.com"
ACCOUNT = "DE89370400440532013000"


def _bentoml_record(error: BaseException) -> logging.LogRecord:
    """The record BentoML's log_exception makes for a rejected request."""
    try:
        raise error
    except BaseException:
        import sys

        return logging.LogRecord(
            BENTOML_REQUEST_ERROR_LOGGER, logging.ERROR, __file__, 1, "Exception on %s [%s]", ("/recommend", "POST"), sys.exc_info()
        )


def _formatted(record: logging.LogRecord) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    if RejectedRequestLog().filter(record):
        handler.handle(record)
    return stream.getvalue()


def test_a_validation_error_is_logged_by_field_path_and_rule_never_by_value() -> None:
    with pytest.raises(ValidationError) as caught:
        Event.model_validate({"anonymous_id": f"{EMAIL} {ACCOUNT}", "platform": EMAIL, "k": ACCOUNT, ACCOUNT: 1})
    assert EMAIL in str(caught.value)  # pydantic's own message repeats the values
    text = _formatted(_bentoml_record(caught.value))
    assert text.startswith("INFO rejected POST /recommend (400): ")
    assert "anonymous_id: string_pattern_mismatch" in text and "platform: string_pattern_mismatch" in text and "k: int_parsing" in text
    assert "(a field the schema does not have): extra_forbidden" in text
    assert EMAIL not in text and ACCOUNT not in text and "Traceback" not in text


def test_a_catalogue_error_chained_to_its_cause_loses_value_message_and_traceback() -> None:
    try:
        try:
            raise KeyError(EMAIL)
        except KeyError as cause:
            raise field_error("RecommendRequest", [(("candidates", 0), f"unknown product {EMAIL!r}", EMAIL)]) from cause
    except ValidationError as error:
        text = _formatted(_bentoml_record(error))
    assert text.strip() == "INFO rejected POST /recommend (400): candidates.0: value_error"


def test_other_errors_keep_their_traceback_at_error() -> None:
    record = _bentoml_record(RuntimeError("the online store is down"))
    text = _formatted(record)
    assert text.startswith("ERROR Exception on /recommend [POST]") and "Traceback" in text


def test_the_filter_is_installed_once() -> None:
    logger = logging.getLogger(BENTOML_REQUEST_ERROR_LOGGER)
    install_rejected_request_log()
    install_rejected_request_log()
    assert sum(isinstance(existing, RejectedRequestLog) for existing in logger.filters) == 1
