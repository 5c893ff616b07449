"""Replay evaluation: visits of the rankers' test period replayed through the service's
Recommender, and how often what it recommends is what the visitor or customer did next.

    replay = run_replay(settings)                                   # <reports>/replay.json
    replay = run_replay(settings, output=Path("/tmp/replay.json"), requests_per_kind=500)

Requests, each from a kept session (fct_session_sequences) that starts in the test period of the
served rankers (on or after the latest `data_window.test_start` of the service's model cards),
sampled up to `requests_per_kind` per kind with settings.seed:
- anonymous_session: a web session without a login, of a visitor with no earlier session: its
  events up to its end, no customer;
- returning_visitor_session: the same, of a visitor with earlier sessions (the request is the
  same: the service reads what it knows of the visitor itself);
- app_session: a customer's app session: customer_id and its events;
- web_login: a web session with a login: its events up to and including the first login;
- app_open: a customer opening the app: customer_id alone, at the app session's start.
Events are the raw events in the event contract's shape (serving/schemas.py's LiveEvent
model_dump: every contract column, UTC datetimes, None where empty), sent in time order.

Outcomes of a request at time t (`label_outcomes`): the product families (dim_products) of
- application forms (form_start, form_submit with a product_id) of the request's visitor (its
  cookie or app device: clickintent.features.visitors) or of its customer (events carrying the
  customer's id), and
- products opened (conversions) by its customer or, for a request without one, by a customer the
  visitor logs in as (fct_web_login_links, sessions with a login) within the window,
in (t, t + 14 days] (the conversion labels' window). For anonymous sessions this is the rule of
dbt's fct_anonymous_session_outcomes. The hidden ground truth is never read.

Features as of the request's day. The data directory's online store holds the latest values,
which would hand a replayed request its own future (a customer's web features from the sessions
after it). So the replay runs on a scratch copy of the Feast registry with an empty SQLite online
store, into which Feast materializes every online view but the per-session ones up to the start
of each request's day before that day's requests, as a nightly batch would; models, marts and raw tables are read in place, and nothing of the
data directory is written but replay.json (when it goes to the reports folder). Logins are not
pushed (push_on_login=False): the next night's materialization carries what the batch links.

Figures, per mode the answers report (answer["mode"], whatever strings the Recommender returns),
per request kind and overall, over requests with at least one outcome: top-1 (top-3) hit rate,
the share whose first (any of the first three) recommended products' families include an
outcome family. Baselines on the same requests: `popularity` (the families most often applied
for or opened in the rankers' training window, before validation_start: the same top 1 / 3
distinct families for everyone) and SERVICE_BASELINES (other ways to call the Recommender).
Intervals: paired bootstrap over requests (evaluation.metrics.bootstrap_weights, the ablation's
resampling), 95 % percentile intervals of each hit rate and of its difference from popularity.
"""

from __future__ import annotations

import contextlib
import io
import math
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pandas as pd

from clickintent.artifacts import atomic_write_json
from clickintent.evaluation.metrics import bootstrap_weights
from clickintent.events.contract import EVENTS
from clickintent.events.partitions import has_raw_events, raw_event_files
from clickintent.features.partitioned_marts import mart_location, parquet_relation
from clickintent.features.visitors import visitor_id
from clickintent.ranker.families import catalogue_families
from clickintent.ranker.training_sets import CONVERSION_LABELS
from clickintent.settings import Settings

if TYPE_CHECKING:  # pragma: no cover - the service's computation, loaded by run_replay
    from clickintent.serving.recommender import Recommender

REPLAY_FILE = "replay.json"
REQUESTS_PER_KIND = 500
# Products asked for per request: top-1 and top-3 are measured.
RECOMMENDED = 3
TOP_K = (1, 3)
OUTCOME_WINDOW_DAYS = CONVERSION_LABELS.label_window_days
FORM_EVENTS = ("form_start", "form_submit")
POPULARITY = "popularity"
SERVICE = "service"
# Materialization starts here: every feature row before the first replayed day is loaded.
EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)
# Data-directory entries the scratch world does not share (its own store; nothing else is read).
NOT_LINKED = ("feast", "reports", "ground_truth")

KINDS: dict[str, str] = {
    "anonymous_session": "a web session without a login of a first-time visitor: its events, no customer",
    "returning_visitor_session": "a web session without a login of a visitor with earlier sessions: its events, no customer",
    "app_session": "a customer's app session: customer_id and its events",
    "web_login": "a web session with a login: its events up to and including the login",
    "app_open": "a customer opening the app: customer_id alone, at the app session's start",
}

# Other ways to answer the same request through the Recommender, each measured beside the
# service: name -> (description, call(recommender, recommend keyword arguments) -> answer).
ServiceBaseline = Callable[["Recommender", dict[str, Any]], Mapping[str, Any]]
SERVICE_BASELINES: dict[str, tuple[str, ServiceBaseline]] = {
    # The service before each mode had its model: the tile ranker for everyone, a visitor's
    # session in the customer's linked-web slot.
    "tile_ranker_alone": (
        "the previous service: the tile ranker alone for every mode",
        lambda recommender, arguments: recommender.recommend(**arguments, tile_ranker_alone=True),
    ),
}

Log = Callable[[str], None]


class ReplayError(ValueError):
    """The data or models cannot be replayed; the message says what is missing and what to run."""


@dataclass(frozen=True)
class ReplayRequest:
    """One request of the replay, and whose next steps are its outcomes."""

    request_id: str
    kind: str
    session_id: str
    request_ts: datetime
    # The visitor (features.visitors.visitor_id) and the customer whose later forms and openings count.
    visitor_id: str | None
    outcome_customer_id: str | None
    # What is sent: the customer_id field and the events (contract dicts, in time order).
    customer_id: str | None = None
    events: tuple[dict[str, Any], ...] = field(default=(), repr=False)

    def arguments(self) -> dict[str, Any]:
        """Recommender.recommend's keyword arguments (without `now`)."""
        return {
            "customer_id": self.customer_id,
            "session_id": self.session_id if self.events else None,
            "events": list(self.events),
            "k": RECOMMENDED,
        }


# ---------------------------------------------------------------------------------------------
# the test window


@dataclass(frozen=True)
class ReplayWindow:
    """Requests from test_start on; popularity counts before training_end (the rankers' train split)."""

    test_start: datetime
    training_end: datetime
    card: str


def replay_window(cards: Mapping[str, Any]) -> ReplayWindow:
    """The latest test split start among the served models' cards (no served model saw its
    sessions' labels), and that card's validation start (the end of its training rows)."""
    windows = []
    for name, card in cards.items():
        window = card.get("data_window") or {}
        if window.get("test_start") and window.get("validation_start"):
            windows.append((_utc(window["test_start"]), _utc(window["validation_start"]), name))
    if not windows:
        raise ReplayError("no served model card records its test split (data_window.test_start); run `clickintent rank train`")
    test_start, training_end, name = max(windows)
    return ReplayWindow(test_start=test_start, training_end=training_end, card=name)


# ---------------------------------------------------------------------------------------------
# requests


def sample_requests(settings: Settings, test_start: datetime, per_kind: int, seed: int) -> tuple[list[ReplayRequest], dict[str, int]]:
    """Up to `per_kind` requests of each kind from sessions starting at or after `test_start`,
    and how many sessions each kind had to draw from."""
    sequences = mart_location(settings.marts_dir, "fct_session_sequences")
    if not sequences.exists():
        raise ReplayError(f"{sequences} not found; run `clickintent build`")
    with duckdb.connect() as connection:
        sessions = connection.execute(
            f"""
            select session_id, platform, anonymous_id, customer_id, session_start_ts, event_ids,
                   list_contains(event_types, 'login') as has_login,
                   session_start_ts > min(session_start_ts) over (partition by platform, anonymous_id) as returning_visitor
            from {parquet_relation(sequences)}
            qualify session_start_ts >= ?
            order by session_id
            """,
            [test_start],
        ).df()
    web, app = sessions["platform"] == "web", sessions["platform"] == "app"
    anonymous = web & ~sessions["has_login"] & sessions["customer_id"].isna()
    pools = {
        "anonymous_session": sessions[anonymous & ~sessions["returning_visitor"]],
        "returning_visitor_session": sessions[anonymous & sessions["returning_visitor"]],
        "app_session": sessions[app & sessions["customer_id"].notna()],
        "web_login": sessions[web & sessions["has_login"]],
        "app_open": sessions[app & sessions["customer_id"].notna()],
    }
    rng = np.random.default_rng(seed)
    chosen = {}
    for kind, pool in pools.items():
        picks = np.sort(rng.choice(len(pool), size=min(per_kind, len(pool)), replace=False))
        chosen[kind] = pool.iloc[picks]
    events = _session_events(settings, pd.concat([frame[["session_id", "event_ids"]] for frame in chosen.values()]))
    requests = []
    for kind, frame in chosen.items():
        for session in frame.itertuples(index=False):
            request = _request(kind, session, events.get(session.session_id, []))
            if request is not None:
                requests.append(request)
    return requests, {kind: len(pool) for kind, pool in pools.items()}


def _request(kind: str, session: Any, events: list[dict[str, Any]]) -> ReplayRequest | None:
    request_id = f"{kind}:{session.session_id}"
    if kind == "app_open":
        return ReplayRequest(
            request_id,
            kind,
            session.session_id,
            request_ts=_utc(session.session_start_ts),
            visitor_id=visitor_id(session.platform, session.anonymous_id),
            outcome_customer_id=session.customer_id,
            customer_id=session.customer_id,
        )
    if not events:
        return None
    if kind == "web_login":
        login = next((index for index, event in enumerate(events) if event["event_type"] == "login" and event["customer_id"]), None)
        if login is None:
            return None
        events = events[: login + 1]
        # The login event names the customer, as the service reads it: nothing else is sent.
        customer, sent = events[login]["customer_id"], None
    else:
        customer = sent = session.customer_id if kind == "app_session" else None
    return ReplayRequest(
        request_id,
        kind,
        session.session_id,
        request_ts=events[-1]["event_ts"],
        visitor_id=visitor_id(session.platform, session.anonymous_id),
        outcome_customer_id=customer,
        customer_id=sent,
        events=tuple(events),
    )


def _session_events(settings: Settings, sessions: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """The raw events of each session, as contract dicts in time order (each event once)."""
    membership = sessions.explode("event_ids").rename(columns={"event_ids": "event_id"}).dropna()
    columns = ", ".join(f"events.{name}" for name in EVENTS.column_names)
    with duckdb.connect() as connection:
        connection.execute("set timezone = 'UTC'")
        connection.register("membership", membership)
        rows = connection.execute(
            f"""
            select membership.session_id, {columns}
            from read_parquet(?) as events
            inner join membership on membership.event_id = events.event_id
            qualify row_number() over (partition by membership.session_id, events.event_id order by events.event_ts) = 1
            order by membership.session_id, events.event_ts, events.event_id
            """,
            [[str(path) for path in raw_event_files(settings.raw_dir)]],
        ).fetchall()
    out: dict[str, list[dict[str, Any]]] = {}
    for session_id, *values in rows:
        event = dict(zip(EVENTS.column_names, values))
        event["event_ts"] = _utc(event["event_ts"])
        out.setdefault(session_id, []).append(event)
    return out


# ---------------------------------------------------------------------------------------------
# outcomes


def read_actions(settings: Settings) -> pd.DataFrame:
    """Every application form and opening with its product family: visitor_id (forms only),
    customer_id, ts, kind (form_start, form_submit, conversion), product_id, product_family."""
    products = settings.marts_dir / "dim_products.parquet"
    if not has_raw_events(settings.raw_dir):
        raise ReplayError(f"no raw events in {settings.raw_dir}; run `clickintent generate` (or `load`) and `clickintent build`")
    for path in (products, settings.raw_dir / "conversions.parquet"):
        if not path.is_file():
            raise ReplayError(f"{path} not found; run `clickintent generate` (or `load`) and `clickintent build`")
    with duckdb.connect() as connection:
        actions = connection.execute(
            """
            with products as (select product_id, product_family from read_parquet($products)),
            forms as (
                select platform, anonymous_id, customer_id, event_ts as ts, event_type as kind, product_id
                from read_parquet($events)
                where event_type in ('form_start', 'form_submit') and product_id is not null
                qualify row_number() over (partition by event_id order by event_ts) = 1
            ),
            opened as (
                select null, null, customer_id, converted_ts, 'conversion', product_id
                from read_parquet($conversions)
            )
            select actions.*, products.product_family
            from (select * from forms union all select * from opened) as actions
            inner join products using (product_id)
            order by ts, kind, product_id
            """,
            {
                "products": str(products),
                "events": [str(path) for path in raw_event_files(settings.raw_dir)],
                "conversions": str(settings.raw_dir / "conversions.parquet"),
            },
        ).df()
    forms = actions["kind"] != "conversion"
    visitors = [
        visitor_id(platform, anonymous_id) if form else None
        for platform, anonymous_id, form in zip(actions["platform"], actions["anonymous_id"], forms)
    ]
    return actions.assign(visitor_id=visitors).drop(columns=["platform", "anonymous_id"])


def read_logins(settings: Settings) -> pd.DataFrame:
    """The login links (fct_web_login_links, sessions with a login): visitor_id, customer_id, linked_at_ts."""
    path = mart_location(settings.marts_dir, "fct_web_login_links")
    if not path.exists():
        raise ReplayError(f"{path} not found; run `clickintent build`")
    links = pd.read_parquet(path)
    if "link_method" in links.columns:  # stitched links re-date earlier sessions; a login is the event
        links = links[links["link_method"] == "web_session_login"]
    visitors = [visitor_id("web", anonymous_id) for anonymous_id in links["anonymous_id"]]
    return links.assign(visitor_id=visitors)[["visitor_id", "customer_id", "linked_at_ts"]].reset_index(drop=True)


def label_outcomes(
    requests: pd.DataFrame, actions: pd.DataFrame, logins: pd.DataFrame, window_days: int = OUTCOME_WINDOW_DAYS
) -> dict[str, frozenset[str]]:
    """The outcome families of each request (module docstring): request_id -> families.

    `requests`: request_id, visitor_id, outcome_customer_id, request_ts; `actions` as read_actions
    gives them; `logins` as read_logins gives them.
    """
    with duckdb.connect() as connection:
        connection.execute("set timezone = 'UTC'")
        for name, frame in (("requests", requests), ("actions", actions), ("logins", logins)):
            connection.register(name, frame)
        rows = connection.execute(
            """
            with windows as (
                select
                    request_id::varchar as request_id,
                    visitor_id::varchar as visitor_id,
                    outcome_customer_id::varchar as outcome_customer_id,
                    request_ts::timestamptz as request_ts,
                    request_ts::timestamptz + to_days($days) as window_end
                from requests
            ),
            followed as (
                select request_id, outcome_customer_id as customer_id from windows where outcome_customer_id is not null
                union
                select windows.request_id, logins.customer_id
                from windows
                inner join logins
                    on logins.visitor_id = windows.visitor_id
                    and logins.linked_at_ts > windows.request_ts and logins.linked_at_ts <= windows.window_end
                where windows.outcome_customer_id is null
            ),
            visitor_forms as (
                select windows.request_id, actions.product_family
                from windows
                inner join actions
                    on actions.visitor_id = windows.visitor_id
                    and actions.kind <> 'conversion'
                    and actions.ts > windows.request_ts and actions.ts <= windows.window_end
            ),
            customer_forms as (
                select windows.request_id, actions.product_family
                from windows
                inner join actions
                    on actions.customer_id = windows.outcome_customer_id
                    and actions.kind <> 'conversion'
                    and actions.ts > windows.request_ts and actions.ts <= windows.window_end
            ),
            openings as (
                select windows.request_id, actions.product_family
                from windows
                inner join followed using (request_id)
                inner join actions
                    on actions.customer_id = followed.customer_id
                    and actions.kind = 'conversion'
                    and actions.ts > windows.request_ts and actions.ts <= windows.window_end
            )
            select distinct request_id, product_family
            from (select * from visitor_forms union all select * from customer_forms union all select * from openings)
            """,
            {"days": int(window_days)},
        ).fetchall()
    families: dict[str, set[str]] = {str(request_id): set() for request_id in requests["request_id"]}
    for request_id, family in rows:
        families[str(request_id)].add(str(family))
    return {request_id: frozenset(found) for request_id, found in families.items()}


def popular_families(actions: pd.DataFrame, before: datetime, families: Sequence[str] = ()) -> list[str]:
    """Families by how often they were applied for or opened before `before`, most first (ties by
    name); `families` never seen follow in name order."""
    counts = Counter(actions.loc[pd.to_datetime(actions["ts"], utc=True) < pd.Timestamp(before), "product_family"])
    ranked = sorted(counts, key=lambda family: (-counts[family], family))
    return ranked + sorted(set(families) - set(ranked))


def hits(recommended_families: Sequence[str | None], outcome_families: frozenset[str], k: int) -> bool:
    """Whether any of the first k recommended products' families is an outcome family."""
    return any(family in outcome_families for family in recommended_families[:k])


# ---------------------------------------------------------------------------------------------
# the scratch store: features as of each replayed day


class AsOfStore:
    """A scratch world sharing the data directory's files but with its own Feast registry (a copy)
    and an empty SQLite online store, materialized forward one day at a time."""

    def __init__(self, settings: Settings, root: Path):
        from clickintent.features.store import feature_store

        registry = settings.feast_dir / "registry.db"
        if not registry.is_file():
            raise ReplayError(f"no Feast registry at {registry}; run `clickintent features apply`")
        data_dir = root / "data"
        data_dir.mkdir(parents=True)
        for entry in sorted(Path(settings.data_dir).resolve().iterdir()):
            if entry.name not in NOT_LINKED and not entry.name.startswith("."):
                (data_dir / entry.name).symlink_to(entry)
        (data_dir / "feast").mkdir()
        shutil.copy2(registry, data_dir / "feast" / "registry.db")
        self.settings = settings.model_copy(update={"data_dir": data_dir, "online_store": "sqlite"})
        self.store = feature_store(self.settings)
        self.views = self._online_views()
        entities = {name: self.store.get_entity(name) for view in self.views for name in view.entities}
        with _quiet():
            # Creates the views' online tables (Feast does that on apply, not on materialize).
            self.store.apply([*entities.values(), *self.views])
        self.loaded_until = EARLIEST
        self.days = 0

    def _online_views(self) -> list[Any]:
        """Every online view but the session-keyed ones: those hold a row per session and are read
        only for a request naming a stored session without its events, which the replay never sends."""
        from clickintent.serving.online import SESSION_KEY

        views = [view for view in self.store.list_feature_views() if view.online]
        return sorted(
            (view for view in views if SESSION_KEY not in {column.name for column in view.entity_columns}), key=lambda view: view.name
        )

    def materialize_until(self, end: datetime) -> None:
        """Load every feature row up to `end` (rows after the last load), as a nightly batch would."""
        if end <= self.loaded_until:
            return
        with _quiet():
            self.store.materialize(start_date=self.loaded_until, end_date=end, feature_views=[view.name for view in self.views])
        self.loaded_until = end
        self.days += 1

    def close(self) -> None:
        from clickintent.compat import feast as feast_compat

        feast_compat.close_sqlite_connection(self.store.provider)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Feast's materialize and apply print progress bars and tables meant for its CLI."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


# ---------------------------------------------------------------------------------------------
# the replay


@dataclass
class ReplayedRequest:
    request: ReplayRequest
    mode: str
    degraded: bool
    families: dict[str, list[str | None]]  # system -> recommended families, best first
    outcomes: frozenset[str]
    window_complete: bool


def run_replay(
    settings: Settings,
    *,
    output: Path | None = None,
    requests_per_kind: int = REQUESTS_PER_KIND,
    service_baselines: Mapping[str, tuple[str, ServiceBaseline]] | None = None,
    log: Log | None = None,
) -> dict[str, Any]:
    """Replay the test period through the Recommender, write replay.json (`output`, default
    <reports>/replay.json) and return it."""
    from clickintent.serving.artifacts import ArtifactError, read_model_cards
    from clickintent.serving.recommender import Recommender, default_model_dirs

    log = log or (lambda _: None)
    service_baselines = SERVICE_BASELINES if service_baselines is None else service_baselines
    if requests_per_kind < 1:
        raise ReplayError(f"requests_per_kind must be at least 1, not {requests_per_kind}")
    started = time.perf_counter()
    seconds: dict[str, float] = {}
    try:
        cards = {name: card.fields for name, card in read_model_cards(default_model_dirs(settings.models_dir)).items()}
    except ArtifactError as error:
        raise ReplayError(str(error)) from error
    window = replay_window(cards)
    requests, available = sample_requests(settings, window.test_start, requests_per_kind, settings.seed)
    if not requests:
        raise ReplayError(f"no session of {settings.marts_dir} starts in the test period (from {window.test_start.isoformat()})")
    requests.sort(key=lambda request: (request.request_ts, request.request_id))
    actions, logins = read_actions(settings), read_logins(settings)
    frame = pd.DataFrame(
        {
            "request_id": [request.request_id for request in requests],
            "visitor_id": [request.visitor_id for request in requests],
            "outcome_customer_id": [request.outcome_customer_id for request in requests],
            "request_ts": [request.request_ts for request in requests],
        }
    )
    outcomes = label_outcomes(frame, actions, logins)
    data_end = _data_end(settings)
    popular = popular_families(actions, window.training_end, catalogue_families(settings.marts_dir))
    seconds["sample_and_label"] = time.perf_counter() - started
    log(
        f"replay: {len(requests)} requests from {window.test_start:%Y-%m-%d} on ({', '.join(f'{k} {v}' for k, v in available.items())} available)"
    )

    replayed: list[ReplayedRequest] = []
    with tempfile.TemporaryDirectory(prefix="clickintent-replay-") as scratch:
        store = AsOfStore(settings, Path(scratch))
        recommender = None
        try:
            materialize_seconds = 0.0
            for day, day_requests in _by_day(requests):
                tick = time.perf_counter()
                store.materialize_until(day)
                materialize_seconds += time.perf_counter() - tick
                if recommender is None:
                    try:
                        recommender = Recommender.load(store.settings, push_on_login=False)
                    except ArtifactError as error:
                        raise ReplayError(str(error)) from error
                for request in day_requests:
                    replayed.append(_replay_one(recommender, request, outcomes[request.request_id], data_end, popular, service_baselines))
                log(f"replay: {day:%Y-%m-%d} done, {len(replayed)}/{len(requests)} requests")
            seconds["materialize"] = materialize_seconds
            model_versions = dict(recommender.model_versions) if recommender is not None else {}
        finally:
            if recommender is not None:
                recommender.close()
            store.close()
    seconds["total"] = time.perf_counter() - started
    seconds["replay"] = seconds["total"] - seconds["sample_and_label"] - seconds["materialize"]
    document = replay_document(
        replayed,
        systems=[SERVICE, POPULARITY, *service_baselines],
        seed=settings.seed,
        header={
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "model_versions": model_versions,
            "test_window": {"from": window.test_start.isoformat(), "data_end": data_end.isoformat(), "from_card": window.card},
            "training_window_end": window.training_end.isoformat(),
            "outcome_window_days": OUTCOME_WINDOW_DAYS,
            "requests_per_kind": requests_per_kind,
            "seed": settings.seed,
            "materialized_days": store.days,
            "kinds": {kind: {"description": KINDS[kind], "available": available[kind]} for kind in KINDS},
            "baselines": {
                POPULARITY: {
                    "families": popular[: max(TOP_K)],
                    "description": "the families most often applied for (form_start, form_submit) or opened (conversions) before "
                    "training_window_end; the same for every request",
                },
                **{name: {"description": description} for name, (description, _) in service_baselines.items()},
            },
            "definitions": DEFINITIONS,
        },
    )
    document["seconds"] = {name: round(value, 1) for name, value in seconds.items()}
    atomic_write_json(output or Path(settings.reports_dir) / REPLAY_FILE, document)
    return document


DEFINITIONS = {
    "outcomes": "product families of the application forms (form_start, form_submit) the request's visitor or customer "
    f"started or submitted, and of the products its customer (or, without one, a customer the visitor logged in as) opened, "
    f"in the {OUTCOME_WINDOW_DAYS} days after the request",
    "top_k_hit_rate": "over requests with at least one outcome: the share whose first k recommended products' families "
    "include an outcome family",
    "intervals": "paired bootstrap over the requests with an outcome (the same resamples for every system), 2.5 and 97.5 "
    "percentiles; *_difference: the system's hit rate minus popularity's",
    "features": "the online store materialized up to the start of each request's day (a nightly batch); no login pushes",
    "mode": "answer['mode'] of the service's answer",
}


def _replay_one(
    recommender: Recommender,
    request: ReplayRequest,
    outcomes: frozenset[str],
    data_end: pd.Timestamp,
    popular: list[str],
    service_baselines: Mapping[str, tuple[str, ServiceBaseline]],
) -> ReplayedRequest:
    arguments = request.arguments()
    answer = recommender.recommend(**arguments, now=request.request_ts)
    families: dict[str, list[str | None]] = {SERVICE: _families(answer), POPULARITY: popular[:RECOMMENDED]}
    for name, (_, call) in service_baselines.items():
        families[name] = _families(call(recommender, {**arguments, "now": request.request_ts}))
    return ReplayedRequest(
        request=request,
        mode=str(answer["mode"]),
        degraded=bool(answer.get("degraded")),
        families=families,
        outcomes=outcomes,
        window_complete=pd.Timestamp(request.request_ts) + timedelta(days=OUTCOME_WINDOW_DAYS) <= data_end,
    )


def _families(answer: Mapping[str, Any]) -> list[str | None]:
    return [product.get("family") for product in answer["products"]]


def _by_day(requests: Sequence[ReplayRequest]) -> Iterator[tuple[datetime, list[ReplayRequest]]]:
    """Requests (in time order) grouped by their UTC day, with the day's start."""
    day: datetime | None = None
    batch: list[ReplayRequest] = []
    for request in requests:
        start = request.request_ts.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        if day is not None and start != day:
            yield day, batch
            batch = []
        day = start
        batch.append(request)
    if day is not None:
        yield day, batch


# ---------------------------------------------------------------------------------------------
# figures


def replay_document(replayed: Sequence[ReplayedRequest], *, systems: Sequence[str], seed: int, header: Mapping[str, Any]) -> dict[str, Any]:
    """replay.json: the header, then the figures per mode, per request kind and overall."""
    modes = sorted({item.mode for item in replayed})
    return {
        **header,
        "systems": list(systems),
        "modes": {mode: _group([item for item in replayed if item.mode == mode], systems, seed, "kind") for mode in modes},
        "by_kind": {
            kind: _group([item for item in replayed if item.request.kind == kind], systems, seed, "mode")
            for kind in KINDS
            if any(item.request.kind == kind for item in replayed)
        },
        "overall": _group(list(replayed), systems, seed, "mode"),
    }


def _group(items: Sequence[ReplayedRequest], systems: Sequence[str], seed: int, breakdown: str) -> dict[str, Any]:
    counted = [item for item in items if item.outcomes]
    out: dict[str, Any] = {
        "requests": len(items),
        "with_outcome": len(counted),
        "without_outcome": len(items) - len(counted),
        "window_complete": sum(item.window_complete for item in items),
        "degraded": sum(item.degraded for item in items),
        breakdown + "s": dict(sorted(Counter(item.request.kind if breakdown == "kind" else item.mode for item in items).items())),
    }
    weights = bootstrap_weights(len(counted), seed=seed) if counted else None
    resampled: dict[tuple[str, int], np.ndarray] = {}
    figures: dict[str, dict[str, Any]] = {}
    for system in systems:
        # Three products of one family cover less than three families would.
        distinct = [len(set(item.families[system][: max(TOP_K)])) for item in counted]
        figures[system] = {f"distinct_families_in_top_{max(TOP_K)}": _round(float(np.mean(distinct))) if distinct else None}
        for k in TOP_K:
            hit = np.array([hits(item.families[system], item.outcomes, k) for item in counted], dtype=np.float64)
            rate = float(hit.mean()) if len(hit) else None
            figures[system][f"top_{k}_hit_rate"] = _round(rate)
            if weights is not None:
                resampled[system, k] = (weights @ hit) / len(hit)
                figures[system][f"top_{k}_hit_rate_95pct"] = _interval(resampled[system, k])
            else:
                figures[system][f"top_{k}_hit_rate_95pct"] = None
    for system in systems:
        if system == POPULARITY:
            continue
        for k in TOP_K:
            mine, base = figures[system][f"top_{k}_hit_rate"], figures[POPULARITY][f"top_{k}_hit_rate"]
            figures[system][f"top_{k}_difference_vs_popularity"] = _round(None if mine is None else mine - base)
            figures[system][f"top_{k}_difference_vs_popularity_95pct"] = (
                _interval(resampled[system, k] - resampled[POPULARITY, k]) if weights is not None else None
            )
    out["systems"] = figures
    return out


def _interval(values: np.ndarray) -> list[float]:
    low, high = np.percentile(values, [2.5, 97.5])
    return [round(float(low), 6), round(float(high), 6)]


def _round(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 6)


# ---------------------------------------------------------------------------------------------
# the report's section


def report_section(replay: Mapping[str, Any] | None, figures: Path) -> list[str]:
    """The report's replay section: a table per mode and per request kind, and one plot."""
    out = ["## Replay of the test period through the service", ""]
    if replay is None:
        return out + ["Not run yet: `clickintent report --replay` replays the test period and writes `replay.json`.", ""]
    window = replay["test_window"]
    systems = [system for system in replay["systems"] if system != POPULARITY]
    out += [
        f"{replay['overall']['requests']:,} requests from sessions starting on or after {window['from'][:10]} (the served "
        f"rankers' test split; data until {window['data_end'][:10]}), up to {replay['requests_per_kind']} per kind, sent to "
        "the Recommender in-process with features materialized up to the start of each request's day. A hit: a recommended "
        f"product's family is among those the visitor or customer applied for or opened in the next {replay['outcome_window_days']} "
        f"days; rates over requests with such an outcome. Popularity: {', '.join(replay['baselines'][POPULARITY]['families'])} "
        "for everyone. Δ: minus popularity, paired bootstrap 95 % interval.",
        "",
    ]
    for title, groups in (("mode", replay["modes"]), ("request kind", replay["by_kind"])):
        header = f"| {title} | requests | with outcome |"
        rule = "|---|---:|---:|"
        for k in TOP_K:
            header += f" popularity top-{k} |" + "".join(f" {system} top-{k} | Δ |" for system in systems)
            rule += "---:|" + "---:|---:|" * len(systems)
        out += [header, rule]
        for name, group in groups.items():
            line = f"| {name} | {group['requests']:,} | {group['with_outcome']:,} |"
            for k in TOP_K:
                line += f" {_rate(group['systems'][POPULARITY], k)} |"
                for system in systems:
                    figures_of = group["systems"][system]
                    line += f" {_rate(figures_of, k)} | {_difference(figures_of, k)} |"
            out.append(line)
        out.append("")
    overall = replay["overall"]
    out += [
        f"Requests without any outcome (not counted): {overall['without_outcome']:,} of {overall['requests']:,}; with the whole "
        f"{replay['outcome_window_days']}-day window inside the data: {overall['window_complete']:,}; degraded answers: "
        f"{overall['degraded']}. Regenerate: `clickintent report --replay`.",
        "",
        _hit_rate_figure(replay, figures),
        "",
    ]
    return out


def _rate(figures_of: Mapping[str, Any], k: int) -> str:
    rate, interval = figures_of.get(f"top_{k}_hit_rate"), figures_of.get(f"top_{k}_hit_rate_95pct")
    if rate is None:
        return "–"
    return f"{rate:.3f}" + (f" [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else "")


def _difference(figures_of: Mapping[str, Any], k: int) -> str:
    value, interval = figures_of.get(f"top_{k}_difference_vs_popularity"), figures_of.get(f"top_{k}_difference_vs_popularity_95pct")
    if value is None:
        return "–"
    return f"{value:+.3f}" + (f" [{interval[0]:+.3f}, {interval[1]:+.3f}]" if interval else "")


def _hit_rate_figure(replay: Mapping[str, Any], figures: Path) -> str:
    import matplotlib.pyplot as plt

    from clickintent.evaluation.report import markdown_image, save_figure

    modes = list(replay["modes"])
    systems = list(replay["systems"])
    figure, axes = plt.subplots(1, len(TOP_K), figsize=(5 * len(TOP_K), 3.6), sharey=True)
    width = 0.8 / len(systems)
    for axis, k in zip(np.atleast_1d(axes), TOP_K):
        for index, system in enumerate(systems):
            rates, below, above = [], [], []
            for mode in modes:
                figures_of = replay["modes"][mode]["systems"][system]
                rate = figures_of.get(f"top_{k}_hit_rate")
                interval = figures_of.get(f"top_{k}_hit_rate_95pct") or [rate, rate]
                rates.append(rate or 0.0)
                below.append(max(0.0, (rate or 0.0) - (interval[0] or 0.0)))
                above.append(max(0.0, (interval[1] or 0.0) - (rate or 0.0)))
            positions = np.arange(len(modes)) + (index - (len(systems) - 1) / 2) * width
            axis.bar(positions, rates, width, yerr=[below, above], capsize=3, label=system)
        axis.set_xticks(np.arange(len(modes)), [f"{mode}\n(n={replay['modes'][mode]['with_outcome']})" for mode in modes], fontsize=8)
        axis.set_title(f"top-{k} hit rate by mode (95 % interval)", fontsize=10)
    np.atleast_1d(axes)[0].set_ylabel("share of requests with an outcome")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    path = figures / "replay_hit_rates.png"
    save_figure(figure, path)
    return markdown_image(path, "top-1 and top-3 hit rates per mode, the service beside popularity")


# ---------------------------------------------------------------------------------------------
# small helpers


def _data_end(settings: Settings) -> pd.Timestamp:
    """The last event or opening of the data: a request's window is complete when it ends by then."""
    with duckdb.connect() as connection:
        (end,) = connection.execute(
            "select greatest((select max(event_ts) from read_parquet(?)), (select max(converted_ts) from read_parquet(?)))",
            [[str(path) for path in raw_event_files(settings.raw_dir)], str(settings.raw_dir / "conversions.parquet")],
        ).fetchone()
    return pd.Timestamp(_utc(end))


def _utc(value: Any) -> datetime:
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)
    return stamp.to_pydatetime()
