"""Structured answers from any OpenAI-compatible endpoint, checked, retried, accounted and cached.

`StructuredLLM.complete(system, user, schema_name, schema, validate)` returns a dict that
- followed the JSON schema (sent as `response_format` json_schema, strict, and checked again here
  with jsonschema, since not every server enforces it), after stripping Markdown code fences;
- passed the caller's semantic validator (e.g. every node id exists in the taxonomy).
An answer that fails either is sent back to the model with the problems listed, up to
`max_output_attempts` times, then LLMOutputError names what was wrong in each attempt.

Transport: the SDK's own retries are off (max_retries=0) so that every HTTP request is counted
here. 429, 408, 409, 5xx, timeouts and connection errors are retried with exponential backoff
and jitter, honouring Retry-After; other statuses (400, 401, 404 ...) fail at once. After the
last attempt LLMRequestError says what happened.

Privacy: every message content passes through `redact` before it is sent or hashed (defence in
depth: session texts are already redacted when rendered), and the cache stores answers and
hashes only, never prompts.

Cache: one JSON file per answer under `cache_dir`, named by the SHA-256 of (model, messages,
schema name, schema, sampling options), written atomically (temp file + rename) and only for
validated answers. A rerun costs nothing; an interrupted run resumes at the first prompt
without an answer. A cached answer is validated again when read, so a stricter validator
(e.g. a new taxonomy version) sends it back to the model instead of trusting it.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import random
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import jsonschema
import openai

from clickintent.artifacts import atomic_write_json
from clickintent.privacy.redaction import redact_with_report
from clickintent.settings import Settings
from clickintent.taxonomy.schemas import Repair, Validator
from clickintent.taxonomy.session_text import UNTRUSTED_DATA_NOTICE

log = logging.getLogger(__name__)

# Statuses worth repeating: the server is busy or failed, the request itself was fine.
_RETRYABLE_STATUSES = frozenset({408, 409, 429}) | frozenset(range(500, 600))
# How much of an invalid answer is echoed back to the model with the problems.
_ECHO_LIMIT = 4000
_MAX_REPORTED_SCHEMA_ERRORS = 10
_CACHE_FORMAT = 1


class LLMError(RuntimeError):
    """Base of the errors this client raises."""


class LLMConfigError(LLMError, ValueError):
    """The client cannot be built from the given settings (e.g. no endpoint configured)."""


class LLMRequestError(LLMError):
    """The endpoint did not answer successfully after the allowed attempts, or refused the request."""

    def __init__(self, message: str, *, attempts: int, status_code: int | None):
        super().__init__(message)
        self.attempts = attempts
        self.status_code = status_code


class LLMOutputError(LLMError):
    """Every attempt returned an answer that was not valid; `problems[i]` lists attempt i+1's."""

    def __init__(self, schema_name: str, problems: list[list[str]]):
        self.schema_name = schema_name
        self.problems = problems
        described = "\n".join(
            f"  attempt {number}: " + "; ".join(attempt_problems) for number, attempt_problems in enumerate(problems, start=1)
        )
        super().__init__(f"the LLM gave no valid '{schema_name}' answer in {len(problems)} attempt(s):\n{described}")


@dataclass
class LLMUsage:
    """What a client spent, written by the caller with `write_json` (e.g. next to a taxonomy)."""

    calls: int = 0  # complete() invocations
    cache_hits: int = 0  # answered from the cache, no request sent
    cache_misses: int = 0
    requests: int = 0  # HTTP requests sent, retries included
    failed_requests: int = 0  # of those: error status, timeout or connection error
    transport_retries: int = 0  # requests repeated after 429 / 5xx / timeout / connection error
    output_retries: int = 0  # requests repeated because the answer was invalid
    output_failures: int = 0  # complete() calls that ended in LLMOutputError
    prompt_tokens: int = 0  # from each response's `usage`
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0  # the server's own prompt cache (usage.prompt_tokens_details)
    redactions: int = 0  # personal data the client removed itself: should stay 0
    request_seconds: float = 0.0  # wall time spent in HTTP requests

    @property
    def retries(self) -> int:
        return self.transport_retries + self.output_retries

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "retries": self.retries, "total_tokens": self.total_tokens}

    def write_json(self, path: Path) -> None:
        _write_json_atomically(Path(path), self.to_dict())


def _write_json_atomically(path: Path, payload: dict[str, Any]) -> None:
    # Compact: the response cache holds one file per answer.
    atomic_write_json(path, payload, indent=None, sort_keys=True, ensure_ascii=False)


class ResponseCache:
    """Validated answers on disk, one JSON file per key, sharded by the key's first two hex digits."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        path = self._path(key)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            # Writes are atomic, so this is a hand-edited or foreign file: ask again, overwrite it.
            log.warning("ignoring unreadable LLM cache entry %s: %s", path, error)
            return None
        answer = entry.get("answer") if isinstance(entry, dict) else None
        return answer if isinstance(answer, dict) else None

    def put(self, key: str, answer: dict, *, model: str, schema_name: str) -> None:
        entry = {
            "format": _CACHE_FORMAT,
            "key": key,
            "model": model,
            "schema_name": schema_name,
            "created_at": datetime.now(UTC).isoformat(),
            "answer": answer,
        }
        _write_json_atomically(self._path(key), entry)

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob("??/*.json")) if self.directory.is_dir() else 0


def strip_code_fences(text: str) -> str:
    """The JSON inside a Markdown code fence (```json ... ```), or the text itself when unfenced."""
    stripped = text.strip()
    fenced = _FENCED.fullmatch(stripped) or _FENCED_INSIDE.search(stripped)
    return fenced.group("body").strip() if fenced else stripped


_FENCED = re.compile(r"```[\w-]*[ \t]*\n?(?P<body>.*?)\n?[ \t]*```", re.DOTALL)
# A fenced block after some prose ("Here is the JSON: ```json {...} ```").
_FENCED_INSIDE = re.compile(r"```(?:json|JSON)[ \t]*\n(?P<body>.*?)\n[ \t]*```", re.DOTALL)


def _retry_after_seconds(headers: Any) -> float | None:
    """Seconds asked for by `retry-after-ms` or `Retry-After` (seconds or an HTTP date)."""
    if headers is None:
        return None
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


@dataclass(frozen=True)
class _Reply:
    content: str | None
    refusal: str | None
    finish_reason: str | None


@dataclass
class StructuredLLM:
    """JSON answers that follow a schema, from an OpenAI-compatible Chat Completions endpoint.

    Not for streaming or tools: one request, one JSON object. Safe to share between threads
    (the SDK client is, and the counters are updated under a lock).
    """

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    cache_dir: Path | None = None  # None: no cache
    timeout_s: float = 60.0  # per HTTP request
    max_request_attempts: int = 5  # per request, for 429 / 5xx / timeouts / connection errors
    max_output_attempts: int = 3  # per complete(), for invalid answers
    backoff_base_s: float = 1.0  # first backoff; doubles each attempt
    backoff_max_s: float = 30.0
    max_retry_after_s: float = 120.0  # a longer Retry-After is waited only this long
    temperature: float | None = 0.0
    seed: int | None = None
    max_tokens: int | None = None
    usage: LLMUsage = field(default_factory=LLMUsage)

    def __post_init__(self) -> None:
        if self.max_request_attempts < 1 or self.max_output_attempts < 1:
            raise LLMConfigError("max_request_attempts and max_output_attempts must be at least 1")
        if self.timeout_s <= 0:
            raise LLMConfigError(f"timeout_s must be positive; got {self.timeout_s}")
        # Local servers (vLLM, Ollama, llama.cpp) ignore the key, but the SDK requires one.
        self._client = openai.OpenAI(
            base_url=self.base_url,
            api_key=self.api_key or "not-needed",
            timeout=self.timeout_s,
            max_retries=0,
        )
        self._cache = ResponseCache(self.cache_dir) if self.cache_dir is not None else None
        self._lock = threading.Lock()
        self._random = random.Random(self.seed)
        self._schema_validators: dict[str, jsonschema.protocols.Validator] = {}

    @classmethod
    def from_settings(cls, settings: Settings, *, cache_dir: Path | None = None, **options: Any) -> StructuredLLM:
        """A client for the endpoint in `settings` (OPENAI_BASE_URL, OPENAI_API_KEY,
        CLICKINTENT_LLM_MODEL), caching under `<data_dir>/llm_cache` unless told otherwise."""
        if not settings.llm_base_url:
            raise LLMConfigError(
                "no LLM endpoint configured: set OPENAI_BASE_URL (or llm_base_url in clickintent.toml), or use the offline backend"
            )
        options.setdefault("seed", settings.seed)
        return cls(
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key,
            model=settings.llm_model,
            cache_dir=cache_dir if cache_dir is not None else settings.data_dir / "llm_cache",
            **options,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> StructuredLLM:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -----------------------------------------------------------------------------------------

    def complete(
        self,
        system: str,
        user: str,
        schema_name: str,
        schema: dict,
        validate: Validator | None = None,
        repair: Repair | None = None,
    ) -> dict:
        """A JSON object following `schema` (and passing `validate`, which returns a list of
        problems, empty when fine), answered by the model or by the cache. `repair` mends what
        needs no guess (it returns the mended answer and what it changed, logged) before the
        answer is validated; only what it cannot mend is sent back to the model."""
        schema_validator = self._schema_validator(schema_name, schema)
        system_text = system if UNTRUSTED_DATA_NOTICE in system else f"{system.rstrip()}\n\n{UNTRUSTED_DATA_NOTICE}"
        messages = [
            {"role": "system", "content": self._redacted(system_text)},
            {"role": "user", "content": self._redacted(user)},
        ]
        key = self._cache_key(messages, schema_name, schema)
        with self._lock:
            self.usage.calls += 1

        if self._cache is not None:
            cached = self._cache.get(key)
            if cached is not None and not self._problems(cached, schema_validator, validate):
                with self._lock:
                    self.usage.cache_hits += 1
                return cached
        with self._lock:
            self.usage.cache_misses += 1

        problems_per_attempt: list[list[str]] = []
        for attempt in range(1, self.max_output_attempts + 1):
            if attempt > 1:
                with self._lock:
                    self.usage.output_retries += 1
            reply = self._request(messages, schema_name, schema)
            answer, problems = self._parse(reply, schema_validator, validate, repair, schema_name)
            if not problems:
                assert answer is not None
                if self._cache is not None:
                    self._cache.put(key, answer, model=self.model, schema_name=schema_name)
                return answer
            problems_per_attempt.append(problems)
            log.info("invalid '%s' answer (attempt %d/%d): %s", schema_name, attempt, self.max_output_attempts, problems)
            messages = [*messages, *self._correction(reply, problems, schema_name)]
        with self._lock:
            self.usage.output_failures += 1
        raise LLMOutputError(schema_name, problems_per_attempt)

    # -----------------------------------------------------------------------------------------

    def _redacted(self, text: str) -> str:
        redaction = redact_with_report(text)
        if redaction.changed:
            with self._lock:
                self.usage.redactions += sum(redaction.counts.values())
        return redaction.text

    def _schema_validator(self, schema_name: str, schema: dict) -> jsonschema.protocols.Validator:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", schema_name):
            raise ValueError(f"schema_name must be 1-64 letters, digits, '_' or '-' (an OpenAI rule); got {schema_name!r}")
        fingerprint = _canonical({"name": schema_name, "schema": schema})
        validator = self._schema_validators.get(fingerprint)
        if validator is None:
            validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
            try:
                validator_class.check_schema(schema)
            except jsonschema.SchemaError as error:
                raise ValueError(f"schema '{schema_name}' is not a valid JSON schema: {error.message}") from error
            validator = validator_class(schema)
            self._schema_validators[fingerprint] = validator
        return validator

    def _cache_key(self, messages: list[dict[str, str]], schema_name: str, schema: dict) -> str:
        payload = {
            "model": self.model,
            "messages": messages,
            "schema_name": schema_name,
            "schema": schema,
            "temperature": self.temperature,
            "seed": self.seed,
            "max_tokens": self.max_tokens,
        }
        return hashlib.sha256(_canonical(payload).encode("utf-8")).hexdigest()

    def _problems(self, answer: Any, schema_validator: jsonschema.protocols.Validator, validate: Validator | None) -> list[str]:
        if not isinstance(answer, dict):
            return [f"the answer must be a JSON object, not {type(answer).__name__}"]
        errors = sorted(schema_validator.iter_errors(answer), key=lambda error: list(error.absolute_path))
        if errors:
            shown = [
                f"at {'/'.join(str(part) for part in error.absolute_path) or '(root)'}: {error.message}"
                for error in errors[:_MAX_REPORTED_SCHEMA_ERRORS]
            ]
            if len(errors) > len(shown):
                shown.append(f"... and {len(errors) - len(shown)} more schema error(s)")
            return shown
        return list(validate(answer)) if validate is not None else []

    def _parse(
        self,
        reply: _Reply,
        schema_validator: jsonschema.protocols.Validator,
        validate: Validator | None,
        repair: Repair | None,
        schema_name: str,
    ) -> tuple[dict | None, list[str]]:
        if reply.refusal:
            return None, [f"the model refused: {reply.refusal}"]
        if reply.finish_reason == "length":
            return None, ["the answer was cut off at the token limit; answer more briefly"]
        if not reply.content or not reply.content.strip():
            return None, ["the answer was empty"]
        try:
            answer = json.loads(strip_code_fences(reply.content))
        except json.JSONDecodeError as error:
            return None, [f"the answer is not valid JSON ({error.msg} at line {error.lineno} column {error.colno})"]
        if repair is not None and isinstance(answer, dict) and not list(schema_validator.iter_errors(answer)):
            answer, repairs = repair(answer)
            if repairs:
                log.warning("repaired '%s' answer without asking again: %s", schema_name, "; ".join(repairs))
        problems = self._problems(answer, schema_validator, validate)
        return (answer if not problems else None), problems

    def _correction(self, reply: _Reply, problems: list[str], schema_name: str) -> list[dict[str, str]]:
        """The messages that show the model its invalid answer and what was wrong with it."""
        echoed = (reply.content or "")[:_ECHO_LIMIT]
        listed = "\n".join(f"- {problem}" for problem in problems)
        return [
            {"role": "assistant", "content": self._redacted(echoed)},
            {
                "role": "user",
                "content": self._redacted(
                    f"Your previous answer was not valid:\n{listed}\n"
                    f"Answer again with only one JSON object that follows the '{schema_name}' schema."
                ),
            },
        ]

    def _request(self, messages: list[dict[str, str]], schema_name: str, schema: dict) -> _Reply:
        """One successful chat completion, retrying transient failures with backoff."""
        options: dict[str, Any] = {}
        if self.temperature is not None:
            options["temperature"] = self.temperature
        if self.seed is not None:
            options["seed"] = self.seed
        if self.max_tokens is not None:
            options["max_tokens"] = self.max_tokens
        response_format = {"type": "json_schema", "json_schema": {"name": schema_name, "schema": schema, "strict": True}}

        last_error = ""
        last_status: int | None = None
        for attempt in range(1, self.max_request_attempts + 1):
            if attempt > 1:
                with self._lock:
                    self.usage.transport_retries += 1
            with self._lock:
                self.usage.requests += 1
            started = time.perf_counter()
            retry_after: float | None = None
            try:
                # Plain dicts are what the SDK sends; its TypedDicts only describe them.
                completion = self._client.chat.completions.create(
                    model=self.model, messages=cast(Any, messages), response_format=cast(Any, response_format), **options
                )
            except openai.APIStatusError as error:
                last_status = error.status_code
                last_error = f"HTTP {error.status_code}: {_error_message(error)}"
                if error.status_code not in _RETRYABLE_STATUSES:
                    self._count_failure(started)
                    raise LLMRequestError(
                        f"LLM request to {self.base_url} was refused ({last_error}); not retried",
                        attempts=attempt,
                        status_code=error.status_code,
                    ) from error
                retry_after = _retry_after_seconds(error.response.headers)
            except openai.APITimeoutError:
                last_status, last_error = None, f"timed out after {self.timeout_s:g} s"
            except openai.APIConnectionError as error:
                last_status, last_error = None, f"connection failed ({error.__cause__ or error})"
            else:
                self._count_success(started, completion)
                # A lenient server may leave fields out; a missing answer is an empty one (retried).
                choices = getattr(completion, "choices", None) or []
                message = getattr(choices[0], "message", None) if choices else None
                if message is None:
                    return _Reply(None, None, None)
                return _Reply(message.content, getattr(message, "refusal", None), choices[0].finish_reason)

            self._count_failure(started)
            if attempt < self.max_request_attempts:
                delay = self._backoff(attempt, retry_after)
                log.info("LLM request attempt %d failed (%s); retrying in %.2f s", attempt, last_error, delay)
                time.sleep(delay)
        raise LLMRequestError(
            f"LLM request to {self.base_url} failed after {self.max_request_attempts} attempt(s); last error: {last_error}",
            attempts=self.max_request_attempts,
            status_code=last_status,
        )

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after_s)
        exponential = min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1))
        # Jitter keeps parallel workers from retrying in lockstep.
        with self._lock:
            return exponential * (0.5 + 0.5 * self._random.random())

    def _count_success(self, started: float, completion: Any) -> None:
        usage = getattr(completion, "usage", None)
        details = getattr(usage, "prompt_tokens_details", None) if usage is not None else None
        with self._lock:
            self.usage.request_seconds += time.perf_counter() - started
            if usage is not None:
                self.usage.prompt_tokens += usage.prompt_tokens or 0
                self.usage.completion_tokens += usage.completion_tokens or 0
                self.usage.cached_prompt_tokens += (getattr(details, "cached_tokens", None) or 0) if details else 0

    def _count_failure(self, started: float) -> None:
        with self._lock:
            self.usage.request_seconds += time.perf_counter() - started
            self.usage.failed_requests += 1


def _error_message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:300]
    return str(error.message)[:300]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
