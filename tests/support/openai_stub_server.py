"""A small OpenAI-compatible HTTP server for tests: real HTTP on 127.0.0.1, an ephemeral port, a thread.

It implements POST /v1/chat/completions and answers from a script that each test writes: a
queue of `StubReply`s (an assistant message, an error status with headers, a delay before
answering). It records every request it receives, body included, so a test can check what
reached "the LLM". When the queue is empty it answers 418 with a message saying so, which the
client treats as a non-retryable refusal: a test that sends more requests than it scripted
fails loudly instead of hanging.

Usage:
    with OpenAIStubServer() as stub:
        stub.enqueue(StubReply.content('{"a": 1}'), StubReply.status(429, headers={"Retry-After": "0"}))
        client = StructuredLLM(base_url=stub.base_url, model="stub-model", ...)
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class StubReply:
    """One scripted answer. Build with the class methods."""

    status_code: int = 200
    content: str | None = None  # the assistant message content (200 only)
    body: dict | None = None  # a whole response body, overriding `content`
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # wait this long before answering (to outlast a client timeout)
    usage: dict[str, Any] | None = None

    @classmethod
    def message(cls, content: str, *, prompt_tokens: int = 11, completion_tokens: int = 7, cached_tokens: int = 0) -> StubReply:
        return cls(
            content=content,
            usage={
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": cached_tokens},
            },
        )

    @classmethod
    def json(cls, payload: Any, **usage: int) -> StubReply:
        return cls.message(json.dumps(payload), **usage)

    @classmethod
    def status(cls, status_code: int, *, headers: dict[str, str] | None = None, message: str | None = None) -> StubReply:
        error = {"error": {"message": message or f"stub error {status_code}", "type": "stub_error", "code": None}}
        return cls(status_code=status_code, body=error, headers=dict(headers or {}))

    @classmethod
    def delayed(cls, delay_s: float, reply: StubReply) -> StubReply:
        return cls(reply.status_code, reply.content, reply.body, reply.headers, delay_s, reply.usage)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body_text: str

    @property
    def body(self) -> Any:
        return json.loads(self.body_text)

    @property
    def message_contents(self) -> list[str]:
        return [message.get("content") or "" for message in self.body.get("messages", [])]


class OpenAIStubServer:
    def __init__(self) -> None:
        self._replies: deque[StubReply] = deque()
        self._responder: Callable[[dict], StubReply] | None = None
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self.requests: list[RecordedRequest] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        # Delayed replies may still be sleeping at shutdown; do not wait for them.
        self._server.daemon_threads = True
        self._server.block_on_close = False
        # A short poll interval so that stopping the server takes milliseconds, not the default 0.5 s.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="openai-stub", daemon=True)

    # ---- script --------------------------------------------------------------------------

    def enqueue(self, *replies: StubReply) -> None:
        with self._lock:
            self._replies.extend(replies)

    def respond_with(self, responder: Callable[[dict], StubReply] | None) -> None:
        """Answer from `responder(request_body)` once the queue is empty (None: stop)."""
        self._responder = responder

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._replies)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [request for request in self.requests if request.path.endswith("/chat/completions")]

    # ---- lifecycle -----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}/v1"

    def start(self) -> OpenAIStubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> OpenAIStubServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---- HTTP ----------------------------------------------------------------------------

    def _next_reply(self, body: dict) -> StubReply:
        with self._lock:
            if self._replies:
                return self._replies.popleft()
        if self._responder is not None:
            return self._responder(body)
        return StubReply.status(418, message="openai stub: no scripted reply left for this request")

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep pytest output clean

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body_text = self.rfile.read(length).decode("utf-8")
                stub.requests.append(RecordedRequest("POST", self.path, dict(self.headers.items()), body_text))
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(StubReply.status(404, message=f"openai stub: no route {self.path}"), {})
                    return
                try:
                    request_body = json.loads(body_text)
                except json.JSONDecodeError:
                    self._send(StubReply.status(400, message="openai stub: request body is not JSON"), {})
                    return
                reply = stub._next_reply(request_body)
                if reply.delay_s > 0 and stub._closing.wait(reply.delay_s):
                    return
                self._send(reply, request_body)

            def _send(self, reply: StubReply, request_body: dict) -> None:
                if reply.body is not None:
                    payload = reply.body
                else:
                    payload = {
                        "id": f"chatcmpl-stub-{len(stub.requests)}",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": request_body.get("model", "stub-model"),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": reply.content},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": reply.usage,
                    }
                encoded = json.dumps(payload).encode("utf-8")
                try:
                    self.send_response(reply.status_code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(encoded)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(encoded)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): nothing to answer

        return Handler
