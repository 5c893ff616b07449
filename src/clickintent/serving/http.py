"""HTTP pieces shared by the service and its empty-service floor: request limits, 400 errors.

`RequestLimits` runs as ASGI middleware, before BentoML parses anything:
- a body over the limit (by its Content-Length, or counted while streaming when there is
  none) is answered 413 with a JSON message;
- a body declared as anything but JSON is answered 415: the APIs take JSON only, and BentoML
  would otherwise hand a JSON body labelled multipart/form-data to its multipart parser, which
  fails with a 500 (found by schemathesis).
The parser never sees either.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


JSON_MEDIA_TYPES = (b"application/json",)


class RequestLimits:
    """ASGI middleware: 413 for a request body over `max_bytes`, 415 for a body that is not JSON."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        media_type = _header(scope, b"content-type")
        if media_type is not None and media_type.split(b";", 1)[0].strip().lower() not in JSON_MEDIA_TYPES:
            await _send_json(
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

        await self.app(scope, replay, send)

    async def _reject(self, send: Send, size: int) -> None:
        await _send_json(
            send,
            413,
            {
                "error": f"request body is {size} bytes or more; the limit is {self.max_bytes} bytes",
                "detail": [{"loc": ["body"], "msg": "too large"}],
            },
        )


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode("ascii"))],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def _header(scope: Scope, wanted: bytes) -> bytes | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == wanted:
            return value
    return None


def _content_length(scope: Scope) -> int | None:
    value = _header(scope, b"content-length")
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
