"""The demo's service step: start the service, ask it about three visitors, print, stop.

    from clickintent.serving.demo import run_service_demo
    facts = run_service_demo(settings, console)     # {label: value} for the demo's summary

1. an anonymous web visitor: a real session of the world, no login (mode anonymous);
2. a customer opening the app: a customer with linked web history (mode customer: the tile ranker
   and the conversion model);
3. a visitor who logs in mid-session: that customer's own pre-login browsing, replayed as a new
   live web session (demo ids, ending an hour after the world's last event) up to its login;
   the demo plays the identity provider too: it signs the login (clickintent.serving.auth) with a
   key made for this run, and the service pushes the session's intent and embedding to the
   customer's online features;
4. the same customer opening the app again: the answer now uses that session (shown against 2).

The sessions are real ones from the world's session mart (their raw events from the events
table), so the answers show what the models learned, not hand-picked pages. The push changes
the customer's online row as a real login would; it is made once: a rerun finds the session in
the store already (the push status says so), and the next materialization restores batch values.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
from rich.console import Console
from rich.table import Table

from clickintent.events.partitions import raw_event_files
from clickintent.features.partitioned_marts import mart_location, parquet_relation
from clickintent.settings import Settings

EVENT_COLUMNS = (
    "event_id",
    "event_ts",
    "platform",
    "anonymous_id",
    "customer_id",
    "event_type",
    "page_path",
    "page_title",
    "search_query",
    "dwell_ms",
    "referrer",
    "utm_source",
    "device_type",
    "product_id",
)


def _events(connection: duckdb.DuckDBPyConnection, settings: Settings, event_ids: list[str]) -> list[dict[str, Any]]:
    columns = ", ".join(EVENT_COLUMNS)
    rows = connection.execute(
        f"select {columns} from read_parquet(?) where event_id in (select unnest(?)) order by event_ts, event_id",
        [[str(path) for path in raw_event_files(settings.raw_dir)], event_ids],
    ).fetchall()
    events = []
    for row in rows:
        event = {name: value for name, value in zip(EVENT_COLUMNS, row) if value is not None}
        event["event_ts"] = event["event_ts"].isoformat()
        events.append(event)
    return events


def pick_demo_sessions(settings: Settings) -> dict[str, Any]:
    """Real visitors from the world: an anonymous session, and a customer whose web session logs in mid-way."""
    sequences = parquet_relation(mart_location(settings.marts_dir, "fct_session_sequences"))
    with duckdb.connect() as connection:
        anonymous = connection.execute(
            f"select session_id, event_ids from {sequences} where platform = 'web' and customer_id is null "
            "and n_events between 6 and 20 order by session_end_ts desc, session_id limit 1",
        ).fetchone()
        login = connection.execute(
            f"select s.session_id, s.customer_id, s.event_ids, s.event_types from {sequences} s "
            "where s.platform = 'web' and s.customer_id is not null and list_position(s.event_types, 'login') > 3 "
            "order by s.session_end_ts desc, s.session_id limit 1",
        ).fetchone()
        if anonymous is None or login is None:
            raise RuntimeError("the world's session mart has no anonymous web session or web session that logs in mid-way to show")
        world_end = connection.execute(
            "select max(event_ts) from read_parquet(?)", [[str(path) for path in raw_event_files(settings.raw_dir)]]
        ).fetchone()[0]
        login_position = list(login[3]).index("login")
        pre_login = _events(connection, settings, list(login[2])[: login_position + 1])
        anonymous_events = _events(connection, settings, list(anonymous[1]))
    return {
        "anonymous": {"session_id": anonymous[0], "events": anonymous_events},
        "customer_id": login[1],
        "login": {"session_id": f"demo_{login[0]}", "events": replay_as_new_session(pre_login, f"demo_{login[0]}", world_end)},
    }


def replay_as_new_session(events: list[dict[str, Any]], session_id: str, world_end: datetime) -> list[dict[str, Any]]:
    """The events as a new live session: its own visitor and event ids, its last event an hour
    after the world's end (so the customer's stored features, as of earlier, do not include it)."""
    from clickintent.serving.session import event_time

    visitor = "a_" + session_id
    shift = world_end.replace(tzinfo=UTC) + timedelta(hours=1) - max(event_time(event["event_ts"]) for event in events)
    return [
        {
            **event,
            "event_id": f"demo_{event['event_id']}",
            "anonymous_id": visitor,
            "event_ts": (event_time(event["event_ts"]) + shift).isoformat(),
        }
        for event in events
    ]


def _answer_table(title: str, answer: dict[str, Any], milliseconds: float, k: int, before: dict[str, float] | None = None) -> Table:
    intent = answer.get("intent")
    push = answer.get("login_push")
    parts = [f"mode {answer['mode']}" + (" (known customer)" if answer["customer_known"] else "")]
    if intent:
        parts.append(f"intent {intent['node_name']} ({intent['confidence']:.2f}), top node {intent['top_node_name']}")
    parts.append(f"{answer['session']['n_events']} live events")
    if push:
        parts.append(f"login push: {push['status']}" + (f" to {', '.join(push['feature_views'])}" if push["status"] == "pushed" else ""))
        if push["status"] == "already_pushed":
            parts.append("(the store holds this session already: the demo ran before on this data directory)")
    if answer["degraded"]:
        parts.append("DEGRADED: " + "; ".join(answer["degraded_reasons"]))
    parts.append(f"{milliseconds:.1f} ms over HTTP")
    table = Table(title=title, caption="; ".join(parts), title_justify="left", caption_justify="left")
    table.add_column("#", justify="right")
    table.add_column("product")
    table.add_column("score", justify="right")
    if before is not None:
        table.add_column("before login", justify="right")
    table.add_column("why")
    for product in answer["products"][:k]:
        reasons = "; ".join(reason["text"] for reason in product["reasons"][:2]) or "-"
        row = [str(product["rank"]), product["product_id"], f"{product['score']:.3f}"]
        if before is not None:
            previous = before.get(product["product_id"])
            row.append("-" if previous is None else f"{previous:.3f}")
        table.add_row(*row, reasons)
    return table


def run_service_demo(settings: Settings, console: Console | None = None, k: int = 3) -> dict[str, Any]:
    """Start the service on a free loopback port, ask about three visitors, print, stop; returns facts.

    Needs every model the service loads in settings.models_dir (encoder, intent_classifier,
    tile_ranker) and the Feast registry and online store of settings.data_dir; if one is missing
    the service does not start and this raises ServiceStartError with the service's message.
    """
    import secrets

    import httpx

    from clickintent.serving.auth import sign_login_assertion
    from clickintent.serving.process import start_service

    console = console or Console(stderr=True)
    sessions = pick_demo_sessions(settings)
    customer_id = sessions["customer_id"]
    # The service on the loopback for this run only: every local caller allowed (an explicit
    # setting), and the login-signing key shared with it for this run.
    assertion_key = secrets.token_hex(16)
    environment = {"CLICKINTENT_SERVING_AUTH": "open", "CLICKINTENT_LOGIN_ASSERTION_KEY": assertion_key}
    # Customers are asked for every product (k is capped at the catalogue) so the answer after the
    # login can be set against the one before it; the tables show the top k.
    everything = 50
    requests = [
        ("anonymous", "an anonymous web visitor (session only)", {"events": sessions["anonymous"]["events"], "k": k}),
        ("app_before", f"customer {customer_id} opening the app", {"customer_id": customer_id, "k": everything}),
        (
            "login",
            f"a web visitor who logs in mid-session as {customer_id}",
            {
                "session_id": sessions["login"]["session_id"],
                "events": sessions["login"]["events"],
                "k": k,
                "login_assertion": sign_login_assertion(assertion_key, customer_id, sessions["login"]["session_id"], int(time.time())),
            },
        ),
        ("app_after", f"customer {customer_id} opening the app after that login", {"customer_id": customer_id, "k": everything}),
    ]
    facts: dict[str, Any] = {}
    answers: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    with start_service(settings, extra_environment=environment) as served:
        facts["service start (s)"] = round(time.perf_counter() - started, 1)
        console.print(f"service ready at {served.url} in {facts['service start (s)']} s")
        with httpx.Client(base_url=served.url, timeout=30.0) as client:
            for key, title, body in requests:
                request_started = time.perf_counter()
                response = client.post("/recommend", json=body)
                milliseconds = (time.perf_counter() - request_started) * 1000
                if response.status_code != 200:
                    raise RuntimeError(f"/recommend for {title} answered {response.status_code}: {response.text[:500]}")
                answer = answers[key] = response.json()
                before = {p["product_id"]: p["score"] for p in answers["app_before"]["products"]} if key == "app_after" else None
                console.print(_answer_table(title, answer, milliseconds, k, before))
                facts[f"service: {title}"] = f"{answer['mode']}, top {answer['products'][0]['product_id']}"
        facts["service RSS (MiB)"] = round(served.rss_bytes() / 2**20)
    push = answers["login"].get("login_push") or {}
    facts["service: login push"] = push.get("status", "none")
    before = {p["product_id"]: p["score"] for p in answers["app_before"]["products"]}
    after = {p["product_id"]: p["score"] for p in answers["app_after"]["products"]}
    facts["service: mean |score change| after login"] = round(
        sum(abs(after[p] - before[p]) for p in after if p in before) / max(len(after), 1), 4
    )
    return facts
