"""Request and response models of the clickintent service: the HTTP contract, with its limits.

Live events mirror the event contract's `events` table (clickintent.events.contract) field for
field, with the same allowed values, so a client sends what it would load in batch; a test holds
the two equal. Each model carries realistic examples: they fill the Swagger UI at `/` and the
OpenAPI schema at `/docs.json`.

Limits (a request over one answers 400 naming the field; a body over MAX_BODY_BYTES answers 413):
- MAX_EVENTS events per request: a web session has a few dozen (the demo world's longest kept
  session has 61); the encoder reads the last 64;
- MAX_CANDIDATES candidate products (the catalogue has 37) and k <= MAX_K;
- MAX_BODY_BYTES per body, checked before parsing: MAX_EVENTS events of ordinary size fit in it.
MAX_EVENTS and MAX_BODY_BYTES bound what one request may cost: the service computes on its event
loop, so a costly request delays every other. The largest allowed request, never-seen text up to
the byte limit, takes about 15 ms of server CPU (docs/measurements.md, "Overload").
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from clickintent.events.contract import (
    DEVICE_TYPES,
    EVENT_TYPES,
    ID_PATTERN,
    MAX_DWELL_MS,
    MAX_ID_CHARS,
    MAX_PATH_CHARS,
    MAX_TEXT_CHARS,
    PLATFORMS,
    TEXT_PATTERN,
    UNKNOWN_EVENT_TYPE,
    event_time_problem,
)

MAX_EVENTS = 100
MAX_CANDIDATES = 100
MAX_K = 50
MAX_LOGIN_ASSERTION_CHARS = 128
MAX_BODY_BYTES = 64 * 1024
# Identifiers, text lengths and characters, dwell and event times: the event contract's limits,
# which `clickintent load` applies too.
Identifier = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS, pattern=ID_PATTERN)]
Text = Annotated[str, Field(max_length=MAX_TEXT_CHARS, pattern=TEXT_PATTERN)]
# A type or class as a tracker names it ("Order Completed", "Smart TV"): spaces allowed, as the loader allows them.
TypeName = Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS, pattern=TEXT_PATTERN)]

# ---- examples (one mortgage-researching web visitor who signs in; values like the synthetic world's) ----

EXAMPLE_EVENTS = [
    {
        "event_id": "e_7f3a9c01",
        "event_ts": "2026-03-02T09:00:00Z",
        "platform": "web",
        "anonymous_id": "a_5e1d2c3b4a",
        "event_type": "page_view",
        "page_path": "/mortgages/30-year-fixed",
        "page_title": "30-Year Fixed Mortgage | Example Bank",
        "dwell_ms": 48200,
        "referrer": "google.com",
        "device_type": "desktop",
        "product_id": "mtg_30y_fixed",
    },
    {
        "event_id": "e_7f3a9c02",
        "event_ts": "2026-03-02T09:00:52Z",
        "platform": "web",
        "anonymous_id": "a_5e1d2c3b4a",
        "event_type": "search",
        "page_path": "/search",
        "search_query": "refinance vs heloc",
        "dwell_ms": 9100,
        "device_type": "desktop",
    },
    {
        "event_id": "e_7f3a9c03",
        "event_ts": "2026-03-02T09:01:05Z",
        "platform": "web",
        "anonymous_id": "a_5e1d2c3b4a",
        "event_type": "calculator",
        "page_path": "/mortgages/refinance",
        "page_title": "Mortgage Refinance | Example Bank",
        "dwell_ms": 95400,
        "device_type": "desktop",
        "product_id": "mtg_refinance",
    },
]
EXAMPLE_LOGIN_EVENT = {
    "event_id": "e_7f3a9c04",
    "event_ts": "2026-03-02T09:02:48Z",
    "platform": "web",
    "anonymous_id": "a_5e1d2c3b4a",
    "customer_id": "c_8d2e4f6a1b3c",
    "event_type": "login",
    "page_path": "/login",
    "page_title": "Sign In to Online Banking | Example Bank",
    "dwell_ms": 6100,
    "device_type": "desktop",
}


# Model-level examples are OpenAPI 3.0's singular `example` (BentoML's spec generator rejects
# JSON Schema's `examples` there); these fill the Swagger UI's request bodies.
EXAMPLE_RECOMMEND_REQUESTS = {
    "anonymous visitor": {"events": EXAMPLE_EVENTS, "k": 3},
    "customer opening the app": {"customer_id": "c_8d2e4f6a1b3c", "k": 5},
    "visitor who logs in mid-session": {"session_id": "s_web_5e1d2c3b4a_1", "events": [*EXAMPLE_EVENTS, EXAMPLE_LOGIN_EVENT], "k": 3},
    "customer, given candidates": {
        "customer_id": "c_8d2e4f6a1b3c",
        "candidates": ["mtg_refinance", "home_heloc", "card_cash_rewards"],
        "k": 2,
    },
}


class LiveEvent(BaseModel):
    """One raw event of the live session, in the event contract's `events` shape."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": EXAMPLE_EVENTS[0]})

    event_id: Identifier = Field(description="Unique event identifier.")
    event_ts: datetime = Field(description="When the event happened: ISO 8601 with an offset or Z; without one it is read as UTC.")
    platform: Literal[PLATFORMS] = Field(description="web (public site) or app (authenticated mobile app).")
    anonymous_id: Identifier = Field(description="Pseudonymous cookie (web) or device (app) identifier.")
    customer_id: Identifier | None = Field(
        default=None, description="Pseudonymous customer key, set from the login event on (never a name, e-mail or account number)."
    )
    event_type: TypeName = Field(
        description=f"What happened: {', '.join(EVENT_TYPES)}. Any other type a tracker sends is kept as 'other', as the loader keeps it."
    )
    page_path: str = Field(
        min_length=1,
        max_length=MAX_PATH_CHARS,
        pattern=TEXT_PATTERN,
        description="URL path (web) or screen path (app), without query string.",
    )
    page_title: Text | None = Field(default=None, description="Page or screen title as rendered.")
    search_query: Text | None = Field(
        default=None, description="Search text (search events); used in-process only, never stored or logged."
    )
    dwell_ms: int | None = Field(default=None, ge=0, le=MAX_DWELL_MS, description="Time on the page or screen, milliseconds.")
    referrer: Text | None = Field(default=None, description="Referring host or URL.")
    utm_source: Text | None = Field(default=None, description="Campaign source tag, if any.")
    device_type: TypeName = Field(description=f"Device class, as the source names it (the synthetic world's: {', '.join(DEVICE_TYPES)}).")
    product_id: Identifier | None = Field(default=None, description="Catalogue product the page or event is about, if any.")

    @field_validator("event_type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        return value if value in EVENT_TYPES else UNKNOWN_EVENT_TYPE

    @field_validator("event_ts")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        # The contract's rule: every timestamp is UTC, and a naive one is read as UTC.
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        else:
            try:
                value = value.astimezone(UTC)
            except OverflowError:
                # 0001-01-01T00:00+01:00 is valid ISO 8601 but has no UTC time (found by schemathesis).
                raise ValueError("is outside the range of dates once converted to UTC") from None
        # The contract's window; a time in the future is clamped to the service's clock, not refused.
        if (problem := event_time_problem(value)) is not None:
            raise ValueError(problem)
        return value


def _check_one_session(events: list[LiveEvent]) -> None:
    """A request carries one session: one visitor (anonymous_id) on one platform, one customer."""
    if not events:
        return
    first = events[0]
    customers: set[str] = set()
    for position, event in enumerate(events):
        if event.platform != first.platform:
            raise ValueError(
                f"events[{position}].platform is {event.platform!r} but events[0] is {first.platform!r}: send one session per request"
            )
        if event.anonymous_id != first.anonymous_id:
            raise ValueError(f"events[{position}].anonymous_id differs from events[0]: send one visitor's session per request")
        if event.customer_id is not None:
            customers.add(event.customer_id)
    if len(customers) > 1:
        raise ValueError(f"events carry {len(customers)} different customer_id values: send one customer's session per request")


class SessionRequest(BaseModel):
    """The live session: /intent and /embed."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"events": EXAMPLE_EVENTS}})

    events: list[LiveEvent] = Field(
        min_length=1, max_length=MAX_EVENTS, description=f"The session's raw events, any order (1 to {MAX_EVENTS})."
    )

    @model_validator(mode="after")
    def _one_session(self) -> SessionRequest:
        _check_one_session(self.events)
        return self


class RecommendRequest(BaseModel):
    """Who is asking, with what live session, for which products."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": EXAMPLE_RECOMMEND_REQUESTS["visitor who logs in mid-session"]})

    customer_id: Identifier | None = Field(default=None, description="The signed-in customer, if any (pseudonymous key).")
    session_id: Identifier | None = Field(
        default=None,
        description=(
            "The session's id. With events it names the live session (a login push records it); without events the "
            "session's stored intent and embedding are read from the online store."
        ),
    )
    events: list[LiveEvent] = Field(
        default_factory=list, max_length=MAX_EVENTS, description=f"The live session's raw events (0 to {MAX_EVENTS})."
    )
    candidates: list[Identifier] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_CANDIDATES,
        description=f"Product ids to rank (1 to {MAX_CANDIDATES}, distinct); default: the whole catalogue.",
    )
    k: int = Field(default=5, ge=1, le=MAX_K, description=f"How many products to return (1 to {MAX_K}).")
    login_assertion: str | None = Field(
        default=None,
        max_length=MAX_LOGIN_ASSERTION_CHARS,
        pattern=r"^[A-Za-z0-9:]+$",
        description=(
            "For a session that logs in: the identity provider's proof of the login, `v1:<issued_at>:<HMAC-SHA256 hex>` over "
            "the customer id, the session id and issued_at with the key shared with the service. Without a valid one (and "
            "an API key with the push scope) the answer is computed and nothing is written."
        ),
    )

    @field_validator("candidates")
    @classmethod
    def _distinct(cls, candidates: list[str] | None) -> list[str] | None:
        if candidates is not None:
            seen: set[str] = set()
            for position, product_id in enumerate(candidates):
                if product_id in seen:
                    raise ValueError(f"candidates[{position}] repeats {product_id!r}")
                seen.add(product_id)
        return candidates

    @model_validator(mode="after")
    def _consistent(self) -> RecommendRequest:
        _check_one_session(self.events)
        if self.customer_id is not None:
            for position, event in enumerate(self.events):
                if event.customer_id is not None and event.customer_id != self.customer_id:
                    raise ValueError(f"events[{position}].customer_id differs from customer_id")
        return self


# ---- responses --------------------------------------------------------------------------


class NodeProbability(BaseModel):
    node_id: str = Field(examples=["equity_home"])
    node_name: str = Field(examples=["Equity, Home, Refinance"])
    probability: float = Field(ge=0.0, le=1.0, examples=[0.61])


class IntentLabels(BaseModel):
    """The session's intent from the distilled classifier, decoded top-down through the taxonomy."""

    node_id: str = Field(description="Most likely taxonomy node.", examples=["equity_home.refinance_learn"])
    node_name: str = Field(examples=["Refinance, Learn, Mortgage"])
    top_node_id: str = Field(description="Its level-1 node.", examples=["equity_home"])
    top_node_name: str = Field(examples=["Equity, Home, Refinance"])
    confidence: float = Field(ge=0.0, le=1.0, description="Probability of node_id.", examples=[0.42])
    top_nodes: list[NodeProbability] = Field(description="Every level-1 node with its probability, most likely first.")
    taxonomy_version: str = Field(examples=["v1-a2754e56"])


class SessionSummary(BaseModel):
    n_events: int = Field(ge=0, description="Events received.", examples=[3])
    n_events_encoded: int = Field(ge=0, description="Events the encoder read (the latest, up to its window).", examples=[3])
    unknown_pages: int = Field(
        ge=0, description="Events on pages the encoder has never seen (mapped to its unknown-page tokens).", examples=[0]
    )
    future_events_clamped: int = Field(
        default=0, ge=0, description="Events dated after the service's clock plus the allowed skew, read as of that time.", examples=[0]
    )


class IntentResponse(BaseModel):
    intent: IntentLabels
    session: SessionSummary
    model_version: str = Field(description="Intent classifier version.", examples=["v1-a2754e56"])


class EmbedResponse(BaseModel):
    embedding: list[float] = Field(description="The session embedding.", examples=[[0.12, -0.53, 0.08]])
    dim: int = Field(examples=[64])
    session: SessionSummary
    model_version: str = Field(description="Encoder version.", examples=["v1-5c0e9a41"])


class Reason(BaseModel):
    feature: str = Field(examples=["web_distilled_top_node_id"])
    value: str = Field(examples=["equity_home"])
    contribution: float = Field(description="Log-odds this feature added to the score.", examples=[0.41])
    text: str = Field(examples=["showed equity home intent"])


class RankedProduct(BaseModel):
    product_id: str = Field(examples=["mtg_refinance"])
    rank: int = Field(ge=1, examples=[1])
    score: float = Field(
        description=(
            "What the products are ranked by. customer and login: expected conversions, click_probability x "
            "conversion_probability. anonymous and cold_start: conversion_probability x the product's share of its "
            "family's applications and openings."
        ),
        examples=[0.0061],
    )
    click_probability: float | None = Field(
        default=None, description="The tile ranker's probability that the tile is clicked (customer and login).", examples=[0.083]
    )
    conversion_probability: float | None = Field(
        default=None,
        description=(
            "P(a product of this family is opened within 14 days): the conversion model's for a customer; for a visitor, the "
            "anonymous-visitor ranker's P(an application is started or submitted, or a product opened, within 14 days), or "
            "the families' rate among past visitors at cold start."
        ),
        examples=[0.073],
    )
    family: str | None = Field(default=None, examples=["home"])
    reasons: list[Reason] = Field(default_factory=list, description="Why, from the features that raised the score most.")


class LoginPush(BaseModel):
    status: Literal["pushed", "already_pushed", "failed", "disabled", "refused"] = Field(
        description=(
            "pushed: written now; already_pushed: the stored features include this session already (pushed before, "
            "or linked by the batch pipeline), nothing written; failed: the online store could not be read or written "
            "(see degraded_reasons); disabled: identity linking is off (the identity-free mode), nothing written and the "
            "session answered as an anonymous one (see reason); refused: the login is not proven (no push scope, no or an "
            "invalid login_assertion, or a customer the bank's data does not know), nothing written (see reason)."
        ),
        examples=["pushed"],
    )
    customer_id: str | None = Field(description="The customer pushed to; null when disabled.", examples=["c_8d2e4f6a1b3c"])
    session_id: str = Field(examples=["s_web_5e1d2c3b4a_1"])
    feature_views: list[str] = Field(default_factory=list, examples=[["customer_web_intent_labels", "customer_web_embedding"]])
    reason: str | None = Field(default=None, description="Why nothing was pushed, when disabled or refused.", examples=[None])


class RecommendResponse(BaseModel):
    products: list[RankedProduct]
    mode: Literal["customer", "login", "returning_visitor", "anonymous", "cold_start"] = Field(
        description=(
            "Which case answered, and so which models (models_used). customer: a known customer's online features (and "
            "their live app session); login: a known customer whose live web session logs in (their features with the "
            "session); returning_visitor: no known customer, a live web session whose cookie has a stored journey; "
            "anonymous: no known customer, a live or stored session alone; cold_start: nothing known."
        ),
        examples=["anonymous"],
    )
    models_used: list[str] = Field(description="The models this answer came from.", examples=[["anonymous_ranker"]])
    features_used: list[str] = Field(
        default_factory=list,
        description=(
            "Where the answer's inputs came from: the online feature views that held a value for it (e.g. customer_profile, "
            "customer_app_embedding, visitor_journey) and live_session when the request's events were read."
        ),
        examples=[["live_session", "visitor_journey", "visitor_journey_embedding"]],
    )
    customer_id: str | None = Field(default=None, examples=[None])
    customer_known: bool = Field(
        description="The online store holds the customer's batch features (profile); a customer seen only through a login push is not known yet.",
        examples=[False],
    )
    session_id: str | None = Field(default=None, examples=["s_web_5e1d2c3b4a_1"])
    intent: IntentLabels | None = Field(default=None, description="The live (or stored) session's intent; null without a session.")
    session: SessionSummary
    login_push: LoginPush | None = Field(
        default=None,
        description=(
            "Set when the live web session contains a login: what was pushed. In the identity-free mode, set (status "
            "disabled) whenever the web session names a customer, and nothing is pushed."
        ),
    )
    degraded: bool = Field(description="Part of the answer was computed without the online store (see degraded_reasons).", examples=[False])
    degraded_reasons: list[str] = Field(default_factory=list)
    model_versions: dict[str, str] = Field(
        examples=[{"encoder": "v1-5c0e9a41", "intent_classifier": "v1-a2754e56", "tile_ranker": "1.20261127T041918Z"}]
    )
