"""Who may call the service, and which login may write to the online store.

Two checks, at two places (docs/design.md, "Serving: trusted callers"):

1. **Callers** (`Authentication`, ASGI middleware, before anything is parsed). Every route but the
   health probes needs an API key, sent as `Authorization: Bearer <key>` or `X-API-Key: <key>`.
   The settings hold each key's SHA-256, never the key (`printf %s "$KEY" | sha256sum` prints it),
   with its scopes and its rate:
   - `recommend`: POST /recommend, /intent, /embed;
   - `push`: a login in a /recommend session may write to the online store (see 2);
   - `metrics`: GET /metrics, the OpenAPI document and the Swagger UI.
   No key, or an unknown one: 401. A key without the route's scope: 403. Over its rate (a token
   bucket per key and worker: `requests_per_second`, `burst`): 429 with Retry-After.
   `serving_auth = "open"` lets every local caller in with every scope, for the demo and a
   developer's loopback; it is a setting nobody gets by accident.
2. **Login pushes** (`LoginAssertions`, checked by the recommender). A login event in a session is
   only a claim. It writes to the customer's online features only when the caller has the `push`
   scope and the request carries a login assertion the service can verify: an HMAC-SHA256, with a
   key shared with the identity provider (`login_assertion_key`), over the customer id, the
   session id and the time the provider issued it, no older than `login_assertion_max_age_seconds`.
   Otherwise the answer is still computed, nothing is written, and `login_push` says why.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from clickintent.serving.http import Receive, Scope, Send, header, send_json
from clickintent.settings import SCOPES, ApiKeySetting, Settings

# Probes an orchestrator calls without credentials; they say nothing about customers.
OPEN_PATHS = frozenset({"/readyz", "/livez", "/healthz"})
# The scope each route needs; a route not listed (the Swagger UI, the OpenAPI document,
# /metrics, anything BentoML adds) needs `metrics`.
ROUTE_SCOPES: Mapping[str, str] = {"/recommend": "recommend", "/intent": "recommend", "/embed": "recommend"}
OPERATOR_SCOPE = "metrics"
# The ASGI scope's state entry that carries the authenticated caller to the API methods.
CALLER_STATE = "clickintent_caller"
LOCAL_CALLER_ID = "local (serving_auth = open)"
ASSERTION_SCHEME = "v1"


def hash_api_key(key: str) -> str:
    """What the settings store for a key: its SHA-256, hex."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: its key's name (never the key) and scopes."""

    key_id: str
    scopes: frozenset[str]

    def may(self, scope: str) -> bool:
        return scope in self.scopes


OPEN_CALLER = Caller(LOCAL_CALLER_ID, frozenset(SCOPES))


def caller_of(state: Any) -> Caller | None:
    """The caller `Authentication` stored in a request's state (None outside the middleware)."""
    caller = getattr(state, CALLER_STATE, None) if not isinstance(state, Mapping) else state.get(CALLER_STATE)
    return caller if isinstance(caller, Caller) else None


@dataclass
class _TokenBucket:
    rate: float
    burst: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """0 when a request may go now, else the seconds until one may."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


@dataclass
class ApiKeys:
    """The configured keys by hash, with one rate bucket per key (per worker)."""

    keys: Mapping[str, ApiKeySetting]
    clock: Callable[[], float] = time.monotonic
    _by_hash: dict[str, tuple[str, ApiKeySetting]] = field(init=False)
    _buckets: dict[str, _TokenBucket] = field(init=False, default_factory=dict)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._by_hash = {setting.sha256: (key_id, setting) for key_id, setting in self.keys.items()}

    def authenticate(self, presented: str) -> Caller | None:
        digest = hash_api_key(presented)
        # Compare against every stored hash so the time taken says nothing about which matched.
        found = None
        for stored, entry in self._by_hash.items():
            if hmac.compare_digest(stored, digest):
                found = entry
        if found is None:
            return None
        key_id, setting = found
        return Caller(key_id, frozenset(setting.scopes))

    def wait_before(self, caller: Caller) -> float:
        """Seconds this caller must wait before its next request (0: go now)."""
        setting = self.keys.get(caller.key_id)
        if setting is None:
            return 0.0
        with self._lock:
            now = self.clock()
            bucket = self._buckets.get(caller.key_id)
            if bucket is None:
                bucket = self._buckets[caller.key_id] = _TokenBucket(setting.requests_per_second, setting.burst, setting.burst, now)
            return bucket.take(now)


class Authentication:
    """ASGI middleware: 401/403/429 before BentoML parses a request; the caller in the request's state."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], settings: Settings):
        self.app = app
        self.open = settings.serving_auth == "open"
        self.keys = ApiKeys(settings.api_keys)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        caller = OPEN_CALLER if self.open else self._caller(scope)
        if caller is None:
            await send_json(
                send,
                401,
                {"error": "an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"},
                extra_headers=[(b"www-authenticate", b'Bearer realm="clickintent"')],
            )
            return
        needed = ROUTE_SCOPES.get(scope.get("path", ""), OPERATOR_SCOPE)
        if not caller.may(needed):
            await send_json(send, 403, {"error": f"API key {caller.key_id!r} lacks the {needed!r} scope this route needs"})
            return
        if not self.open:
            wait = self.keys.wait_before(caller)
            if wait > 0:
                await send_json(
                    send,
                    429,
                    {"error": f"API key {caller.key_id!r} is over its request rate; retry in {wait:.2f} s"},
                    extra_headers=[(b"retry-after", str(max(1, math.ceil(wait))).encode("ascii"))],
                )
                return
        scope.setdefault("state", {})[CALLER_STATE] = caller
        await self.app(scope, receive, send)

    def _caller(self, scope: Scope) -> Caller | None:
        presented = header(scope, b"x-api-key")
        if presented is None:
            authorization = header(scope, b"authorization")
            if authorization is not None and authorization[:7].lower() == b"bearer ":
                presented = authorization[7:].strip()
        if not presented:
            return None
        return self.keys.authenticate(presented.decode("latin-1"))


def check_auth_settings(settings: Settings) -> None:
    """Refuse to serve with settings that would answer every request 401 (ValueError saying what to set)."""
    if settings.serving_auth == "api_keys" and not settings.api_keys:
        raise ValueError(
            "cannot start the service: serving_auth is 'api_keys' and no api_keys are configured, so every request would be "
            "refused; set CLICKINTENT_API_KEYS (each key's SHA-256, from `printf %s KEY | sha256sum`, and scopes) or, for local "
            "use on the loopback only, CLICKINTENT_SERVING_AUTH=open"
        )


# ---- login assertions ---------------------------------------------------------------------------


def _assertion_message(customer_id: str, session_id: str, issued_at: int) -> bytes:
    return f"{ASSERTION_SCHEME}|{customer_id}|{session_id}|{issued_at}".encode()


def sign_login_assertion(key: str, customer_id: str, session_id: str, issued_at: int) -> str:
    """What the identity provider sends with a login: `v1:<issued_at unix seconds>:<hex HMAC>`."""
    digest = hmac.new(key.encode("utf-8"), _assertion_message(customer_id, session_id, issued_at), hashlib.sha256).hexdigest()
    return f"{ASSERTION_SCHEME}:{issued_at}:{digest}"


@dataclass(frozen=True)
class LoginAssertions:
    """Verifies login assertions with the key shared with the identity provider."""

    key: str | None
    max_age_seconds: int
    skew_seconds: int

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginAssertions:
        return cls(settings.login_assertion_key, settings.login_assertion_max_age_seconds, settings.clock_skew_seconds)

    def refusal(self, assertion: str | None, customer_id: str, session_id: str, now: datetime) -> str | None:
        """Why this assertion does not prove the login (None: it does). Never echoes the assertion."""
        if self.key is None:
            return "no login_assertion_key is configured, so no login can be verified and pushes are off"
        if not assertion:
            return "the request carries no login_assertion for this login"
        parts = assertion.split(":")
        if len(parts) != 3 or parts[0] != ASSERTION_SCHEME or not parts[1].isdigit():
            return f"the login_assertion is not in the form {ASSERTION_SCHEME}:<issued_at>:<hmac>"
        issued_at = int(parts[1])
        expected = sign_login_assertion(self.key, customer_id, session_id, issued_at)
        if not hmac.compare_digest(expected.encode("ascii"), assertion.encode("ascii", errors="replace")):
            return "the login_assertion does not verify for this customer and session"
        age = now.timestamp() - issued_at
        if age > self.max_age_seconds:
            return f"the login_assertion expired ({self.max_age_seconds} s)"
        if age < -self.skew_seconds:
            return "the login_assertion is issued in the future"
        return None
