"""One settings object for every stage, read from a TOML file and environment variables.

Precedence, lowest to highest: the defaults below, then `clickintent.toml` (in the working
directory, or the file named by `CLICKINTENT_CONFIG`), then environment variables. Each field
says why it exists and what it defaults to, in the manner of dbt-duckdb's credentials.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from clickintent.events.shapes import SOURCE_SHAPES

# The checkout this module was installed from (an editable install, as `make setup` does);
# the dbt project and the Feast repo live there, beside `src/`.
_SOURCE_ROOT = Path(__file__).resolve().parents[2]

# Environment variable -> settings field. OPENAI_* are the openai SDK's own names, so one
# environment configures both the SDK and us.
ENVIRONMENT_VARIABLES: dict[str, str] = {
    "CLICKINTENT_DATA_DIR": "data_dir",
    "CLICKINTENT_MODELS_DIR": "models_dir",
    "CLICKINTENT_PROJECT_DIR": "project_dir",
    "CLICKINTENT_SESSION_TIMEOUT_MINUTES": "session_timeout_minutes",
    "CLICKINTENT_IDENTITY_LINKING": "identity_linking",
    "CLICKINTENT_STITCH_WINDOW_DAYS": "stitch_window_days",
    "CLICKINTENT_SOURCE_SHAPE": "source_shape",
    "CLICKINTENT_ONLINE_STORE": "online_store",
    "CLICKINTENT_REDIS_URL": "redis_url",
    "CLICKINTENT_SEED": "seed",
    "CLICKINTENT_THREADS": "threads",
    "CLICKINTENT_ENCODER_DEVICE": "encoder_device",
    "CLICKINTENT_FIT_SESSIONS_BEFORE": "fit_sessions_before",
    "OPENAI_BASE_URL": "llm_base_url",
    "OPENAI_API_KEY": "llm_api_key",
    "CLICKINTENT_LLM_MODEL": "llm_model",
    "CLICKINTENT_SERVING_AUTH": "serving_auth",
    "CLICKINTENT_SERVING_MAX_CONCURRENCY": "serving_max_concurrency",
    "CLICKINTENT_SERVING_QUEUE_DEADLINE_MS": "serving_queue_deadline_ms",
    "CLICKINTENT_API_KEYS": "api_keys",
    "CLICKINTENT_LOGIN_ASSERTION_KEY": "login_assertion_key",
    "CLICKINTENT_LOGIN_ASSERTION_MAX_AGE_SECONDS": "login_assertion_max_age_seconds",
    "CLICKINTENT_CLOCK_SKEW_SECONDS": "clock_skew_seconds",
}

# The keywords of `fit_sessions_before` (any other value is an ISO timestamp).
FIT_ALL_SESSIONS = "all"
FIT_BEFORE_RANKER_VALIDATION = "ranker_validation_start"

# What an API key may do (clickintent.serving.auth): call /recommend, /intent and /embed; write a
# verified login to the online store; read /metrics and the API documents.
SCOPES = ("recommend", "push", "metrics")


class ApiKeySetting(BaseModel):
    """One API key of the service, as the settings hold it: never the key itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The key's SHA-256, 64 hex digits: `printf %s "$KEY" | sha256sum`.
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    scopes: tuple[Literal[SCOPES], ...] = ("recommend",)
    # A token bucket per key and worker: the sustained rate and the burst above it.
    requests_per_second: float = Field(default=50.0, gt=0)
    burst: int = Field(default=100, gt=0)


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Where everything written at run time goes: raw tables, the DuckDB warehouse, feature
    # marts, the Feast registry and online store, reports. One directory so that a run is
    # easy to find, move and delete. Default: ./data
    data_dir: Path = Field(default=Path("data"))

    # Where trained models and their JSON model cards go; serving loads from here.
    # Default: ./models
    models_dir: Path = Field(default=Path("models"))

    # The checkout holding dbt_project/ and feature_repo/. Default: the checkout this package
    # was installed from (editable install), else the working directory.
    project_dir: Path = Field(default=_SOURCE_ROOT if (_SOURCE_ROOT / "dbt_project").is_dir() else Path("."))

    # Inactivity that ends a session, per anonymous_id and platform. 30 minutes is the web
    # analytics convention (Google Analytics, Adobe). Default: 30
    session_timeout_minutes: int = Field(default=30, gt=0)

    # Whether a web session is linked to a customer. "login": a kept web session with a login
    # event carries the customer's id from then on, feeds the customer-level web features
    # (fct_web_login_links, fct_customer_web_intent, customer_web_embedding, ...), and a live
    # login pushes the session into the customer's online features (docs/design.md, "Login
    # link"). "off": the identity-free mode the paper argues for: no web session carries a
    # customer id in any mart or model output, every customer-level web table is empty, a live
    # web session is answered as an anonymous one and its login pushes nothing; what reaches
    # the app comes only through the shared space (models learned across platforms, the
    # customer's own app sessions). Passed to dbt as the var `identity_linking`. Default: login
    identity_linking: Literal["login", "off"] = "login"

    # Stitching at login, as Snowplow and Segment do: when a cookie signs in, its anonymous web
    # sessions that ended up to this many days before the login link to the customer too
    # (fct_web_login_links, link_method 'stitched'), counted in the customer's features only
    # from the login on. 0 links the login session alone; identity_linking "off" links nothing.
    # Passed to dbt as the var `stitch_window_days`. Default: 30
    stitch_window_days: int = Field(default=30, ge=0)

    # The shape of the raw events dbt reads (docs/sources.md): "contract" (<data>/raw/events.parquet,
    # what `generate` and `load` write), or a tracker's own tables under <data>/raw, mapped to the
    # contract by dbt staging models: "snowplow" (atomic.events), "ga4" (the BigQuery export),
    # "segment" (pages, screens, tracks, identifies); events.shapes lists them. Passed to dbt as
    # the var `source_shape`. Default: contract
    source_shape: Literal[SOURCE_SHAPES] = "contract"

    # Feast online store. SQLite needs no server and suits single-writer use; Redis holds
    # reads steady under concurrent pushes (logins pushing intent while /recommend reads).
    # Default: sqlite
    online_store: Literal["sqlite", "redis"] = "sqlite"

    # Redis connection string, used when online_store = "redis". Default: localhost:6379
    redis_url: str = "localhost:6379"

    # Seed for the synthetic world and every model, so that a rerun is identical. Default: 7
    seed: int = 7

    # Threads for DuckDB and dbt. The target machine has 2 cores. Default: 2
    threads: int = Field(default=2, gt=0)

    # Where the encoder pretrains, embeds in batch and runs its benchmark: "cuda" (large
    # batches, bf16 autocast), "cpu", or "auto": cuda when torch sees a GPU, else cpu. On CPU
    # the results are the same as without the option. One live session always runs on CPU.
    # Default: auto
    encoder_device: Literal["auto", "cpu", "cuda"] = "auto"

    # Which sessions the taxonomy (generation, teacher, distilled classifier) and the encoder are
    # fitted on; they still label and embed every session. "all": every session.
    # "ranker_validation_start": only sessions that end before the rankers' validation split
    # starts, so that the ablation's model-stage rows are a prospective test
    # (clickintent.fit_window). Or an ISO timestamp (UTC when it has no offset). Default: all
    fit_sessions_before: str = "all"

    # OpenAI-compatible endpoint for taxonomy generation. Unset means the offline backend
    # (MiniLM embeddings + clustering), so everything works with no network. Default: unset
    llm_base_url: str | None = None

    # API key for that endpoint; never logged. Default: unset
    llm_api_key: str | None = Field(default=None, repr=False)

    # Model name sent to the endpoint. Default: gpt-4o-mini
    llm_model: str = "gpt-4o-mini"

    # Who may call the service (clickintent.serving.auth). "api_keys": every route but the health
    # probes needs one of `api_keys`. "open": any local caller gets every scope; for the demo and
    # a developer's loopback only, so it must be chosen. Default: api_keys
    serving_auth: Literal["api_keys", "open"] = "api_keys"

    # Requests one service worker holds at once, computing or waiting for their turn; past it a
    # request is answered 503 with Retry-After at once instead of queueing (docs/design.md,
    # "Overload"). 0 turns admission control off: requests queue without bound. Default: 8
    serving_max_concurrency: int = Field(default=8, ge=0)

    # How long an admitted request may wait for its turn; past it the request is answered 503
    # instead of computed, since its client has likely given up. Default: 500
    serving_queue_deadline_ms: int = Field(default=500, gt=0)

    # The service's API keys by name: {"app-backend": {"sha256": "...", "scopes": ["recommend",
    # "push"]}}. In the environment, the same as JSON. Default: none
    api_keys: dict[str, ApiKeySetting] = Field(default_factory=dict, repr=False)

    # The key shared with the identity provider that signs login assertions; a login writes to
    # the online store only with a valid one. Unset: no login is ever pushed. Default: unset
    login_assertion_key: str | None = Field(default=None, repr=False, min_length=16)

    # How old a login assertion may be when the service sees it. Default: 300
    login_assertion_max_age_seconds: int = Field(default=300, gt=0)

    # How far ahead of the service's clock a client's clock may run: later event times are
    # clamped to now plus this, so a session dated in the future cannot shadow later ones in
    # the online store. Default: 300
    clock_skew_seconds: int = Field(default=300, ge=0)

    @field_validator("fit_sessions_before")
    @classmethod
    def _fit_sessions_before_keyword_or_time(cls, value: str) -> str:
        value = value.strip()
        if value in (FIT_ALL_SESSIONS, FIT_BEFORE_RANKER_VALIDATION):
            return value
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(
                f"must be {FIT_ALL_SESSIONS!r}, {FIT_BEFORE_RANKER_VALIDATION!r} or an ISO timestamp such as 2026-03-01T00:00:00+00:00"
            ) from None
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).isoformat()

    @field_validator("api_keys", mode="before")
    @classmethod
    def _api_keys_from_json(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError as error:
                raise ValueError(f"api_keys must be a JSON object of key name -> {{sha256, scopes}}: {error}") from None
        return value

    # ---- derived locations (not settable: they follow from the directories above) ----

    @cached_property
    def raw_dir(self) -> Path:
        """Raw tables of the event contract, as a source hands them over."""
        return self.data_dir / "raw"

    @cached_property
    def ground_truth_dir(self) -> Path:
        """Hidden latent intents of the synthetic world: evaluation only, never features."""
        return self.data_dir / "ground_truth"

    @cached_property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @cached_property
    def marts_dir(self) -> Path:
        """Feature marts written by dbt as Parquet; Feast reads exactly these files."""
        return self.data_dir / "marts"

    @cached_property
    def taxonomy_dir(self) -> Path:
        return self.data_dir / "taxonomy"

    @cached_property
    def feast_dir(self) -> Path:
        return self.data_dir / "feast"

    @cached_property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @cached_property
    def dbt_dir(self) -> Path:
        """dbt's own output when clickintent runs dbt: target/ (manifest, run results, partial
        parse state, compiled SQL) and logs/. Per data directory, so that builds of two data
        directories never read each other's manifest; a plain `dbt build` run inside
        dbt_project/ keeps dbt's default dbt_project/target/ and logs/."""
        return self.data_dir / "dbt"

    @cached_property
    def dbt_project_dir(self) -> Path:
        return self.project_dir / "dbt_project"

    @cached_property
    def feature_repo_dir(self) -> Path:
        return self.project_dir / "feature_repo"

    def model_copy(self, *, update: Mapping[str, object] | None = None, deep: bool = False) -> Settings:
        """A copy with `update` applied, its derived locations computed afresh (pydantic's copy
        would carry the cached ones of the original's directories)."""
        copy = super().model_copy(update=update, deep=deep)
        for name in _DERIVED_LOCATIONS:
            copy.__dict__.pop(name, None)
        return copy

    def absolute(self) -> Settings:
        """The same settings with every directory made absolute (dbt and Feast change dirs)."""
        return self.model_copy(
            update={
                "data_dir": self.data_dir.resolve(),
                "models_dir": self.models_dir.resolve(),
                "project_dir": self.project_dir.resolve(),
            }
        )


_DERIVED_LOCATIONS = tuple(name for name, value in vars(Settings).items() if isinstance(value, cached_property))


def _config_file(environ: dict[str, str]) -> Path | None:
    named = environ.get("CLICKINTENT_CONFIG")
    if named:
        path = Path(named)
        if not path.is_file():
            raise FileNotFoundError(f"CLICKINTENT_CONFIG names {path}, which is not a file")
        return path
    default = Path("clickintent.toml")
    return default if default.is_file() else None


def load_settings(environ: dict[str, str] | None = None, **overrides: object) -> Settings:
    """Settings from defaults, then the config file, then the environment, then `overrides`.

    Directories come back absolute so that dbt and Feast, which change directory, see the
    same paths as the caller.
    """
    environ = dict(os.environ if environ is None else environ)
    values: dict[str, object] = {}
    # where each value came from, so that an invalid one is reported by the name the user set
    sources: dict[str, str] = {}
    config_file = _config_file(environ)
    if config_file is not None:
        with config_file.open("rb") as handle:
            table = tomllib.load(handle)
        table = table.get("clickintent", table)
        values.update(table)
        sources.update({key: f"{key} in {config_file}" for key in table})
    for variable, field in ENVIRONMENT_VARIABLES.items():
        if environ.get(variable):
            values[field] = environ[variable]
            sources[field] = f"environment variable {variable}"
    given = {key: value for key, value in overrides.items() if value is not None}
    values.update(given)
    sources.update({key: f"argument {key}" for key in given})
    try:
        return Settings(**values).absolute()
    except ValidationError as error:
        raise SettingsError(_describe(error, sources)) from error


class SettingsError(ValueError):
    """Settings that do not validate; the message names each bad value by where it was set."""


# Values an error message must not repeat.
_SECRET_FIELDS = frozenset({"llm_api_key", "login_assertion_key", "api_keys"})


def _describe(error: ValidationError, sources: Mapping[str, str]) -> str:
    problems = []
    for problem in error.errors():
        field = ".".join(str(part) for part in problem["loc"]) or "(settings)"
        value = "(hidden)" if str(problem["loc"][0] if problem["loc"] else "") in _SECRET_FIELDS else repr(problem.get("input"))
        problems.append(f"{sources.get(field, field)} = {value}: {problem['msg']}")
    return "invalid clickintent settings:\n  " + "\n  ".join(problems)
