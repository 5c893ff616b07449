"""HTTP pieces shared by the service and its empty-service floor: request limits, load shedding, 400 errors.

`RequestLimits` runs as ASGI middleware, before BentoML parses anything:
- a body over the limit (by its Content-Length, or counted while streaming when there is
  none) is answered 413 with a JSON message;
- a body declared as anything but JSON is answered 415: the APIs take JSON only, and BentoML
  would otherwise hand a JSON body labelled multipart/form-data to its multipart parser, which
  fails with a 500 (found by schemathesis). One exception, BentoML's own: a service composed
  into another one (`bentoml.depends`) runs as a dependency, reachable only through the socket
  BentoML gives the composing service, which sends `application/vnd.bentoml+pickle`; that type
  is let through there and only there, as BentoML's entry server refuses it from outside;
- with a concurrency limit (`max_concurrency` > 0), a worker holds at most that many requests
  whose bodies are in, computing or waiting for their turn: one more is answered 503 with
  Retry-After at once instead of queueing. An admitted request that waited longer than
  `queue_deadline_s` for its turn is answered 503 too, and one whose client hung up while it
  waited is dropped uncomputed (499 in the access log). Each such request counts in the metric
  `clickintent_requests_shed_total{reason}`.
The parser never sees any of these.

Why a turn, and not a semaphore: the service computes on the event loop, so a request, once it
runs, runs to its answer without yielding; requests the loop read together would otherwise run
back to back, none of them ever seeing another in flight (BentoML's own `max_concurrency`
counts exactly that, so it never refuses anything here). An admitted request yields to the loop
until no other computation began while it was away: the loop has then just read its sockets,
so a client gone is known, and the wait measured is the real one.

`RejectedRequestLog` keeps rejected values out of the server log: see its docstring.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import anyio
from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


JSON_MEDIA_TYPES = (b"application/json",)
# What a composing service sends to the services it depends on (BentoML's RemoteProxy).
COMPOSITION_MEDIA_TYPE = b"application/vnd.bentoml+pickle"
# bentoml.server_context.service_type of a worker serving a dependency ("entry_service" otherwise).
DEPENDENCY_SERVICE_TYPE = "service"
# Seconds a client shed for load is asked to wait before it retries.
RETRY_AFTER_S = 1
# nginx's status for "client closed the request": only the access log and the metrics see it.
CLIENT_CLOSED_REQUEST = 499


class RequestLimits:
    """ASGI middleware: 415 for a body that is not JSON, 413 for one over `max_bytes`, and with
    `max_concurrency` > 0 the load limits of the module docstring (503 with Retry-After)."""

    def __init__(
        self,
        app: Callable[[Scope, Receive, Send], Awaitable[None]],
        max_bytes: int,
        max_concurrency: int = 0,
        queue_deadline_s: float = float("inf"),
    ):
        self.app = app
        self.max_bytes = max_bytes
        self.max_concurrency = max_concurrency
        self.queue_deadline_s = queue_deadline_s
        # Requests admitted and not yet answered, and computations begun (the turn rule).
        self.in_flight = 0
        self.computations_begun = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        media_type = header(scope, b"content-type")
        if media_type is not None and media_type.split(b";", 1)[0].strip().lower() not in accepted_media_types():
            await send_json(
                send,
                415,
                {
                    "error": f"Content-Type {media_type.decode('latin-1')!r} is not supported: send application/json",
                    "detail": [{"loc": ["headers", "content-type"], "msg": "must be application/json"}],
                },
            )
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._reject(send, declared)
            return
        # Read the body up to the limit, then replay it to the app: chunked bodies are counted too.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._reject(send, size)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        if not self.max_concurrency:
            await self.app(scope, replay, send)
            return
        if self.in_flight >= self.max_concurrency:
            await self._shed(send, "over_capacity", 503, f"the service is at capacity ({self.max_concurrency} requests per worker)")
            return
        self.in_flight += 1
        try:
            waited = await self._wait_for_turn(receive)
            if waited is None:
                await self._shed(send, "client_gone", CLIENT_CLOSED_REQUEST, "the client closed the request before it was computed")
            elif waited > self.queue_deadline_s:
                await self._shed(
                    send,
                    "queue_deadline",
                    503,
                    f"the request waited {waited * 1000:.0f} ms for its turn, over the {self.queue_deadline_s * 1000:.0f} ms allowed",
                )
            else:
                await self.app(scope, replay, send)
        finally:
            self.in_flight -= 1

    async def _wait_for_turn(self, receive: Receive) -> float | None:
        """The seconds this request waited for its turn, or None if its client left meanwhile.

        Each round asks whether the client has gone, which returns at once if so and otherwise
        yields to the loop once (the loop reads its sockets on the way); the turn is taken in
        the first round during which no other computation began.
        """
        started = time.monotonic()
        while True:
            begun = self.computations_begun
            if await _client_gone(receive):
                return None
            if self.computations_begun == begun:
                break
        self.computations_begun += 1
        return time.monotonic() - started

    async def _shed(self, send: Send, reason: str, status: int, why: str) -> None:
        shed_requests().labels(reason=reason).inc()
        # Sent even to a client that is gone: BentoML's timeout middleware waits for an answer.
        await send_json(
            send,
            status,
            {"error": f"{why}: retry after {RETRY_AFTER_S} s", "detail": [{"loc": ["server"], "msg": reason}]},
            extra_headers=[(b"retry-after", str(RETRY_AFTER_S).encode("ascii"))],
        )

    async def _reject(self, send: Send, size: int) -> None:
        await send_json(
            send,
            413,
            {
                "error": f"request body is {size} bytes or more; the limit is {self.max_bytes} bytes",
                "detail": [{"loc": ["body"], "msg": "too large"}],
            },
        )


async def send_json(send: Send, status: int, body: dict[str, Any], extra_headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    """Answer an ASGI request with a JSON body (the middlewares' own answers)."""
    payload = json.dumps(body).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode("ascii")),
                *extra_headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def accepted_media_types() -> tuple[bytes, ...]:
    """JSON; and BentoML's composition type in a worker that serves a dependency (module docstring)."""
    import bentoml

    if bentoml.server_context.service_type == DEPENDENCY_SERVICE_TYPE:
        return (*JSON_MEDIA_TYPES, COMPOSITION_MEDIA_TYPE)
    return JSON_MEDIA_TYPES


def header(scope: Scope, wanted: bytes) -> bytes | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == wanted:
            return value
    return None


async def _client_gone(receive: Receive) -> bool:
    """Whether the client has disconnected, as of the loop's last read: the body is already
    read, so a message ready now can only be the disconnect; none ready costs one turn of the
    loop (Starlette's `Request.is_disconnected` asks the same way)."""
    with anyio.CancelScope() as scope:
        scope.cancel()
        message = await receive()
        return message["type"] == "http.disconnect"
    return False


@functools.cache
def shed_requests():
    """The Prometheus counter of shed requests, created on first use: BentoML points
    prometheus_client at its multiprocess directory only once a worker runs."""
    from prometheus_client import Counter

    return Counter(
        "clickintent_requests_shed",
        "Requests answered without being computed: over_capacity, queue_deadline (503) or client_gone (499).",
        ["reason"],
    )


def _content_length(scope: Scope) -> int | None:
    value = header(scope, b"content-length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def field_error(title: str, problems: Iterable[tuple[tuple[str | int, ...], str, Any]]) -> ValidationError:
    """A pydantic ValidationError for checks the schema cannot make alone (the catalogue):
    BentoML answers it 400 with the same `detail` list, each entry naming its field."""
    details: list[InitErrorDetails] = [
        {"type": PydanticCustomError("value_error", message), "loc": location, "input": value} for location, message, value in problems
    ]
    return ValidationError.from_exception_data(title, details)


def load_limits(settings: Any) -> dict[str, Any]:
    """RequestLimits' load options from the settings (serving_max_concurrency, serving_queue_deadline_ms)."""
    return {"max_concurrency": settings.serving_max_concurrency, "queue_deadline_s": settings.serving_queue_deadline_ms / 1000.0}


# The logger of BentoML's `log_exception`, which records every request an API rejects.
BENTOML_REQUEST_ERROR_LOGGER = "bentoml._internal.server.http_app"
# Constraint values a log line may name beside the rule (limits, not what the client sent).
RULE_LIMITS = ("pattern", "min_length", "max_length", "ge", "gt", "le", "lt", "expected")


class RejectedRequestLog(logging.Filter):
    """Rewrites BentoML's record of a rejected request to the route, field paths and rules.

    BentoML logs a request its API rejects (a pydantic ValidationError, answered 400; a
    BentoMLException under 500) at ERROR with the traceback, and pydantic's message repeats
    each rejected value (`input_value='...'`), as may a validator's own message: a value sent
    in the wrong field is often the very one that must not be logged (an e-mail address in an
    id). The record keeps the route, each error's field path and rule (pydantic's error type
    and the limit it names) at INFO, and loses the values, the messages and the traceback. A
    field the schema does not know is named as such, since its name is the client's text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, ValidationError):
            summary = "; ".join(_rule(problem) for problem in error.errors(include_url=False, include_input=False))
            status = 400
        elif error is not None and _client_error_status(error) is not None:
            summary, status = type(error).__name__, _client_error_status(error)
        else:
            return True
        path, method = record.args if isinstance(record.args, tuple) and len(record.args) == 2 else ("?", "?")
        record.msg, record.args = "rejected %s %s (%d): %s", (method, path, status, summary)
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        return True


def _rule(problem: Any) -> str:
    location = [str(part) for part in problem["loc"]]
    if problem["type"] == "extra_forbidden" and location:
        location[-1] = "(a field the schema does not have)"
    limits = {key: value for key, value in (problem.get("ctx") or {}).items() if key in RULE_LIMITS}
    named = " ".join(f"{key}={value!r}" for key, value in limits.items())
    return f"{'.'.join(location) or '(body)'}: {problem['type']}{' ' + named if named else ''}"


def _client_error_status(error: BaseException) -> int | None:
    """The 4xx status of a BentoMLException (BadInput, unsupported media type...), else None."""
    from bentoml.exceptions import BentoMLException

    if isinstance(error, BentoMLException) and int(error.error_code) < 500:
        return int(error.error_code)
    return None


def install_rejected_request_log() -> None:
    """Put RejectedRequestLog on BentoML's request-error logger (once; a served worker configures
    BentoML's logging before it imports the service, so the filter stays)."""
    logger = logging.getLogger(BENTOML_REQUEST_ERROR_LOGGER)
    if not any(isinstance(existing, RejectedRequestLog) for existing in logger.filters):
        logger.addFilter(RejectedRequestLog())
