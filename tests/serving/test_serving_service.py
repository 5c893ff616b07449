"""The served process over HTTP: `bentoml serve` on a loopback port, as clients see it.

One small world with every model (tests/serving_world.py), one SQLite-backed service for most
tests, a Redis-backed one when `redis-server` is installed, a built Bento served from BentoML's
store, and a service that must refuse to start. Slow (served processes take seconds to start).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest

from clickintent.features.partitioned_marts import mart_location, parquet_pattern
from clickintent.serving.process import ServiceStartError, free_port, service_environment, start_service
from clickintent.settings import Settings, load_settings
from serving.schemas import MAX_BODY_BYTES, MAX_CANDIDATES, MAX_EVENTS, MAX_K
from support.marts import mart_glob
from support.service_auth import PUSH_KEY, READ_KEY, auth_headers, login_assertion, service_auth_environment
from support.serving_world import busiest_anonymous_session, pick, raw_events, session_events

pytestmark = pytest.mark.slow
PROJECT = Path(__file__).resolve().parents[2]


# ---- the world and the served processes ------------------------------------------------------


@pytest.fixture(scope="module")
def world(serving_world: Settings) -> Settings:
    return serving_world


@pytest.fixture(scope="module")
def service(world: Settings, tmp_path_factory):
    served = start_service(
        world, log_path=tmp_path_factory.mktemp("logs") / "service.log", timeout=180, extra_environment=service_auth_environment()
    )
    yield served
    served.stop()


@pytest.fixture(scope="module")
def client(service):
    with httpx.Client(base_url=service.url, timeout=30.0, headers=auth_headers()) as http:
        yield http


@pytest.fixture(scope="module")
def anonymous_events(world: Settings) -> list[dict]:
    return busiest_anonymous_session(world)


@pytest.fixture(scope="module")
def known_customer(world: Settings) -> str:
    """A customer with a profile and linked web history in the online store."""
    return pick(
        "select customer_id from read_parquet(?) order by n_linked_sessions_30d desc, customer_id limit 1",
        [parquet_pattern(mart_location(world.marts_dir, "fct_customer_web_intent"))],
    )[0]


def _online(settings: Settings, customer_id: str) -> dict:
    """The customer's pushed views as the online store holds them (read by this test process)."""
    from clickintent.features.store import feature_store

    refs = [
        "customer_web_intent_labels:n_linked_web_sessions",
        "customer_web_intent_labels:web_distilled_top_node_id",
        "customer_web_embedding:web_embedding",
    ]
    response = feature_store(settings).get_online_features(features=refs, entity_rows=[{"customer_id": customer_id}]).to_dict()
    return {key: values[0] for key, values in response.items()}


def _fresh_login_session(events: list[dict], customer_id: str) -> list[dict]:
    """A new web session (new visitor and ids, happening now) that ends by logging in as `customer_id`."""
    visitor = f"a_test_{uuid.uuid4().hex[:10]}"
    shift = datetime.now(UTC) - timedelta(seconds=30) - max(datetime.fromisoformat(event["event_ts"]) for event in events)
    session = [
        {
            **event,
            "anonymous_id": visitor,
            "event_id": f"{event['event_id']}_{visitor}",
            "event_ts": (datetime.fromisoformat(event["event_ts"]) + shift).isoformat(),
        }
        for event in events
    ]
    for event in session:
        event.pop("customer_id", None)
    last = max(datetime.fromisoformat(event["event_ts"]) for event in session)
    login = {
        "event_id": f"login_{visitor}",
        "event_ts": (last + timedelta(seconds=20)).isoformat(),
        "platform": "web",
        "anonymous_id": visitor,
        "customer_id": customer_id,
        "event_type": "login",
        "page_path": "/login",
        "page_title": "Sign In to Online Banking | Example Bank",
        "dwell_ms": 5000,
        "device_type": session[0]["device_type"],
    }
    return [*session, login]


def _login_body(events: list[dict], customer_id: str, **fields) -> dict:
    """A /recommend body for a login session, with the identity provider's assertion for it."""
    session_id = f"s_test_{uuid.uuid4().hex[:12]}"
    return {"session_id": session_id, "events": events, "login_assertion": login_assertion(customer_id, session_id), **fields}


def _ok(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text[:2000]
    return response.json()


def _field_error(response: httpx.Response, status: int = 400) -> list[list]:
    assert response.status_code == status, response.text[:2000]
    body = response.json()
    body = body[0] if isinstance(body, list) else body
    return [item["loc"] for item in body.get("detail", [])]


# ---- every endpoint -------------------------------------------------------------------------


def test_readiness_and_the_openapi_schema_with_examples(client: httpx.Client) -> None:
    assert client.get("/readyz").status_code == 200
    schema = client.get("/docs.json").json()
    for route in ("/recommend", "/intent", "/embed"):
        assert "post" in schema["paths"][route]
    request = schema["paths"]["/recommend"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert request["example"]["events"][-1]["event_type"] == "login"  # the Swagger UI's ready-made request
    assert "events" in request["properties"] and "LiveEvent" in schema["components"]["schemas"]


def test_anonymous_visitor_gets_a_session_ranking(client: httpx.Client, anonymous_events: list[dict]) -> None:
    # The world's own session, sent by a cookie the store has no journey for: a first visit.
    anonymous_events = _new_visit(anonymous_events, f"a_new_{uuid.uuid4().hex[:10]}")
    answer = _ok(client.post("/recommend", json={"events": anonymous_events, "k": 4}))
    assert answer["mode"] == "anonymous" and answer["customer_id"] is None and not answer["customer_known"]
    assert [product["rank"] for product in answer["products"]] == [1, 2, 3, 4]
    scores = [product["score"] for product in answer["products"]]
    assert scores == sorted(scores, reverse=True) and all(0.0 < score < 1.0 for score in scores)
    assert len({product["product_id"] for product in answer["products"]}) == 4
    assert answer["session"]["n_events"] == len(anonymous_events) and answer["login_push"] is None
    probabilities = [node["probability"] for node in answer["intent"]["top_nodes"]]
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-6) and probabilities == sorted(probabilities, reverse=True)
    assert answer["intent"]["node_id"].startswith(answer["intent"]["top_node_id"])
    assert set(answer["model_versions"]) >= {"encoder", "intent_classifier", "tile_ranker", "conversion", "anonymous_ranker", "taxonomy"}
    assert not answer["degraded"]
    cold = _ok(client.post("/recommend", json={"k": 4}))
    assert [p["product_id"] for p in cold["products"]] != [p["product_id"] for p in answer["products"]] or [
        p["score"] for p in cold["products"]
    ] != scores, "the live session changed nothing"


def _new_visit(events: list[dict], anonymous_id: str) -> list[dict]:
    """`events` replayed as one new web visit of `anonymous_id` ending now, a few seconds apart."""
    now = datetime.now(UTC)
    visit = []
    for position, event in enumerate(events):
        replayed = {key: value for key, value in event.items() if key != "customer_id"}
        replayed.update(
            anonymous_id=anonymous_id,
            event_id=f"{event['event_id']}_{anonymous_id}_{position}",
            event_ts=(now - timedelta(seconds=20 * (len(events) - position))).isoformat(),
        )
        visit.append(replayed)
    return visit


def _one_family_visit(world: Settings, family: str, section: str, calculators: tuple[str, ...], anonymous_id: str) -> list[dict]:
    """A visit to one family's product pages, two of its calculators and an application start,
    from the world's own events."""
    anonymous = "platform = 'web' and customer_id is null"
    pages = raw_events(world, f"{anonymous} and event_type = 'page_view' and page_path like ?", [f"/{section}/%"], limit=4)
    tools = [raw_events(world, f"{anonymous} and event_type = 'calculator' and page_path = ?", [path], limit=1)[0] for path in calculators]
    application = raw_events(
        world,
        f"{anonymous} and event_type = 'form_start' and product_id in (select product_id from read_parquet(?) where product_family = ?)",
        [str(world.marts_dir / "dim_products.parquet"), family],
        limit=1,
    )
    assert len(pages) == 4 and len(application) == 1, family
    return _new_visit([*pages[:2], *tools, *pages[2:], *application], anonymous_id)


@pytest.mark.parametrize(
    ("family", "section", "calculators"),
    [
        ("home", "mortgages", ("/tools/mortgage-calculator", "/tools/refinance-calculator")),
        ("investing", "investing", ("/tools/ira-calculator", "/tools/retirement-calculator")),
    ],
)
def test_an_anonymous_visit_to_one_familys_pages_gets_that_familys_products(
    world: Settings, client: httpx.Client, family: str, section: str, calculators: tuple[str, ...]
) -> None:
    visit = _one_family_visit(world, family, section, calculators, f"a_new_{uuid.uuid4().hex[:10]}")
    answer = _ok(client.post("/recommend", json={"events": visit, "k": 3}))
    assert answer["mode"] == "anonymous" and answer["models_used"] == ["anonymous_ranker"]
    assert family in [product["family"] for product in answer["products"]], answer["products"]
    top = answer["products"][0]
    assert top["click_probability"] is None and 0 < top["conversion_probability"] < 1
    assert any(reason["text"] for product in answer["products"] for reason in product["reasons"])


def test_a_returning_visitor_is_answered_with_the_stored_journey(world: Settings, client: httpx.Client) -> None:
    """The cookie's journey is read from the online store and changes the answer for the same visit."""
    visitor = pick(
        "select visitor_id from read_parquet(?) where platform = 'web' and not has_logged_in_before "
        "order by n_sessions_30d desc, n_form_starts_30d desc, visitor_id limit 1",
        [mart_glob(world.marts_dir, "fct_visitor_journeys")],
    )[0]
    anonymous_id = visitor.split(":", 1)[1]
    events = raw_events(world, "platform = 'web' and customer_id is null and event_type = 'page_view'", limit=3)
    returning = _ok(client.post("/recommend", json={"events": _new_visit(events, anonymous_id), "k": 5}))
    first_visit = _ok(client.post("/recommend", json={"events": _new_visit(events, f"a_new_{uuid.uuid4().hex[:10]}"), "k": 5}))
    assert returning["mode"] == "returning_visitor" and first_visit["mode"] == "anonymous"
    assert returning["features_used"] == ["live_session", "visitor_journey", "visitor_journey_embedding"]
    assert first_visit["features_used"] == ["live_session"]
    assert returning["models_used"] == first_visit["models_used"] == ["anonymous_ranker"]
    assert [(p["product_id"], round(p["score"], 9)) for p in returning["products"]] != [
        (p["product_id"], round(p["score"], 9)) for p in first_visit["products"]
    ]


def test_cold_start_is_the_visitors_calibrated_prior(world: Settings, client: httpx.Client) -> None:
    card = json.loads((world.models_dir / "anonymous_ranker" / "model_card.json").read_text())
    answer = _ok(client.post("/recommend", json={"k": 50}))
    assert answer["mode"] == "cold_start" and answer["models_used"] == ["anonymous_ranker"] and answer["features_used"] == []
    for product in answer["products"]:
        family = product["family"]
        share = card["product_shares"][family].get(product["product_id"], card["unseen_product_share"][family])
        assert product["conversion_probability"] == pytest.approx(card["family_prior"][family])
        assert product["score"] == pytest.approx(card["family_prior"][family] * share)
    assert 0 < sum(card["family_prior"].values()) and len({p["family"] for p in answer["products"][:5]}) >= 1


def test_known_customer_gets_a_personalized_ranking_with_reasons(client: httpx.Client, known_customer: str) -> None:
    answer = _ok(client.post("/recommend", json={"customer_id": known_customer, "k": 5}))
    assert answer["mode"] == "customer" and answer["customer_known"] and answer["intent"] is None
    assert answer["models_used"] == ["tile_ranker", "conversion"] and "conversion" in answer["model_versions"]
    assert "customer_profile" in answer["features_used"] and "live_session" not in answer["features_used"]
    for product in answer["products"]:
        assert 0 < product["conversion_probability"] < 1 and 0 < product["click_probability"] < 1
        assert product["score"] == pytest.approx(product["click_probability"] * product["conversion_probability"])
    scores = [product["score"] for product in answer["products"]]
    assert scores == sorted(scores, reverse=True)
    assert len(answer["products"]) == 5 and not answer["degraded"]
    reasons = [reason for product in answer["products"] for reason in product["reasons"]]
    assert reasons and all(reason["contribution"] > 0 and reason["text"] for reason in reasons)


def test_a_signed_in_app_session_reaches_the_models_through_the_in_app_features(world: Settings, client: httpx.Client) -> None:
    """The app session of a customer with stored in-app rows, re-dated to now: it joins the
    customer's in-app embedding and labels (read from the online store), and the answer moves."""
    customer_id, session_id = pick(
        "select s.customer_id, s.session_id from read_parquet(?) s join read_parquet(?) a using (customer_id) "
        "where s.platform = 'app' and s.n_events between 3 and 40 group by all order by s.session_id limit 1",
        [mart_glob(world.marts_dir, "fct_session_sequences"), str(world.data_dir / "embeddings" / "customer_app_embeddings.parquet")],
    )
    events = session_events(world, session_id)
    shift = datetime.now(UTC) - timedelta(seconds=30) - max(datetime.fromisoformat(event["event_ts"]) for event in events)
    events = [{**event, "event_ts": (datetime.fromisoformat(event["event_ts"]) + shift).isoformat()} for event in events]
    assert all(event["platform"] == "app" and event.get("customer_id") == customer_id for event in events)
    home = _ok(client.post("/recommend", json={"customer_id": customer_id, "k": 5}))
    answer = _ok(client.post("/recommend", json={"events": events, "k": 5}))
    assert answer["mode"] == "customer" and answer["customer_id"] == customer_id and answer["login_push"] is None
    assert {"customer_app_embedding", "customer_profile", "live_session"} <= set(answer["features_used"])
    assert "customer_app_embedding" in home["features_used"] and "live_session" not in home["features_used"]
    clicks = {product["product_id"]: product["click_probability"] for product in answer["products"]}
    home_clicks = {product["product_id"]: product["click_probability"] for product in home["products"]}
    assert any(clicks[product] != pytest.approx(home_clicks[product], rel=1e-6) for product in clicks.keys() & home_clicks.keys())


def test_cold_start_for_unknown_customers_and_empty_requests_is_one_defined_answer(client: httpx.Client) -> None:
    unknown = _ok(client.post("/recommend", json={"customer_id": "c_never_seen_0001", "k": 3}))
    empty = _ok(client.post("/recommend", json={"k": 3}))
    unknown_session = _ok(client.post("/recommend", json={"session_id": "no_such_session", "k": 3}))
    for answer in (unknown, empty, unknown_session):
        assert answer["mode"] == "cold_start" and not answer["customer_known"] and not answer["degraded"]
        assert [p["product_id"] for p in answer["products"]] == [p["product_id"] for p in empty["products"]]
    assert unknown["customer_id"] == "c_never_seen_0001"


def test_candidates_and_k(world: Settings, client: httpx.Client, known_customer: str) -> None:
    candidates = ["mtg_refinance", "home_heloc", "card_cash_rewards", "sav_high_yield"]
    answer = _ok(client.post("/recommend", json={"customer_id": known_customer, "candidates": candidates, "k": 10}))
    assert sorted(p["product_id"] for p in answer["products"]) == sorted(candidates)
    full = _ok(client.post("/recommend", json={"customer_id": known_customer, "k": MAX_K}))
    catalogue = pick("select count(*) from read_parquet(?)", [str(world.marts_dir / "dim_products.parquet")])[0]
    assert len(full["products"]) == catalogue  # the whole catalogue: k caps at the candidates there are
    by_product = {p["product_id"]: p["score"] for p in full["products"]}
    for product in answer["products"]:
        assert product["score"] == pytest.approx(by_product[product["product_id"]], rel=1e-6)


def test_stored_session_by_id_without_events(world: Settings, client: httpx.Client) -> None:
    session_id = pick(
        "select session_id from read_parquet(?) where platform = 'web' order by session_end_ts desc, session_id limit 1",
        [str(world.data_dir / "features" / "session_intent.parquet")],
    )[0]
    answer = _ok(client.post("/recommend", json={"session_id": session_id, "k": 3}))
    assert answer["mode"] == "anonymous" and answer["session_id"] == session_id
    assert answer["intent"] is not None and answer["session"]["n_events"] == 0


def test_the_services_customer_read_equals_feasts_get_online_features(world: Settings, known_customer: str) -> None:
    """OnlineFeatures.customer reads view by view through the provider; Feast's public call is the reference."""
    from clickintent.features.store import feature_store
    from clickintent.serving.online import OnlineFeatures

    online = OnlineFeatures(world, "tile_ranker_v2")
    profile_only = pick(
        "select customer_id from read_parquet(?) where customer_id not in (select customer_id from read_parquet(?)) order by customer_id limit 1",
        [
            parquet_pattern(mart_location(world.marts_dir, "dim_customer_profiles")),
            parquet_pattern(mart_location(world.marts_dir, "fct_customer_web_intent")),
        ],
    )[0]
    reference = feature_store(world)
    try:
        for customer_id in (known_customer, profile_only, "c_never_seen"):
            row = online.customer(customer_id)
            expected = reference.get_online_features(features=online.customer_refs, entity_rows=[{"customer_id": customer_id}]).to_dict(
                include_event_timestamps=True
            )
            assert row.values == {name: expected[name][0] for name in online.customer_features}
            assert row.timestamps == {
                name: datetime.fromtimestamp(expected[f"{name}__ts"][0], tz=UTC) if expected[f"{name}__ts"][0] > 0 else None
                for name in online.customer_features
            }
            assert row.known == (customer_id != "c_never_seen")
        assert any(value is not None for value in online.customer(known_customer).values.values())
        assert all(value is None for value in online.customer("c_never_seen").values.values())
    finally:
        online.close()


def test_a_push_writes_what_feasts_own_push_writes(world: Settings, known_customer: str) -> None:
    """OnlineFeatures.push (Arrow rows straight to the provider) against FeatureStore.push (pandas)."""
    import pandas as pd
    from feast.data_source import PushMode

    from clickintent.features.store import feature_store
    from clickintent.serving.online import EMBEDDING_PUSH_SOURCE, INTENT_LABELS_PUSH_SOURCE, OnlineFeatures

    online = OnlineFeatures(world, "tile_ranker_v2")
    stored = online.customer(known_customer).values
    reference = feature_store(world)
    as_of = datetime(2026, 6, 1, 12, 30, 15, tzinfo=UTC)
    read = [
        "customer_web_intent_labels:" + name
        for name in ("n_linked_web_sessions", "web_distilled_top_node_id", "web_distilled_top_node_probs", "web_teacher_top_node_dist")
    ]
    read += ["customer_web_embedding:web_embedding"]
    answers = []
    try:
        for customer_id, ours in (("c_push_ours", True), ("c_push_feast", False)):
            labels = {
                "customer_id": customer_id,
                "as_of_ts": as_of,
                "latest_web_session_id": "live_push_test",
                "n_linked_web_sessions": 3,
                "web_distilled_top_node_id": stored["web_distilled_top_node_id"],
                "web_distilled_top_node_probs": stored["web_distilled_top_node_probs"],
                "web_teacher_top_node_id": None,
                "web_teacher_top_node_dist": None,
            }
            embedding = {
                "customer_id": customer_id,
                "as_of_ts": as_of,
                "web_embedding": stored["web_embedding"],
                "n_linked_web_sessions": 3,
                "latest_web_session_id": "live_push_test",
            }
            for source, row in ((INTENT_LABELS_PUSH_SOURCE, labels), (EMBEDDING_PUSH_SOURCE, embedding)):
                if ours:
                    online.push(source, row)
                else:
                    reference.push(source, pd.DataFrame([row]), to=PushMode.ONLINE)
            answer = reference.get_online_features(features=read, entity_rows=[{"customer_id": customer_id}]).to_dict(
                include_event_timestamps=True
            )
            answers.append({key: values[0] for key, values in answer.items() if key != "customer_id"})
    finally:
        online.close()
    assert answers[0] == answers[1]
    assert answers[0]["n_linked_web_sessions"] == 3 and answers[0]["web_teacher_top_node_dist"] is None
    assert answers[0]["web_embedding__ts"] == int(as_of.timestamp())


def test_intent_and_embed_match_the_models_in_process(world: Settings, client: httpx.Client, anonymous_events: list[dict]) -> None:
    from clickintent.encoder.embed import load_session_embedder
    from clickintent.taxonomy.classifier import IntentClassifier

    intent = _ok(client.post("/intent", json={"events": anonymous_events}))
    expected = IntentClassifier.load(world.models_dir).predict_events(anonymous_events)
    assert intent["intent"]["node_id"] == expected.node_id and intent["intent"]["confidence"] == pytest.approx(expected.confidence)
    by_node = {node["node_id"]: node["probability"] for node in intent["intent"]["top_nodes"]}
    np.testing.assert_allclose([by_node[node] for node in expected.top_node_ids], expected.top_node_probs, rtol=1e-9)
    embedded = _ok(client.post("/embed", json={"events": anonymous_events}))
    again = _ok(client.post("/embed", json={"events": list(reversed(anonymous_events))}))
    embedder = load_session_embedder(world, threads=1, embed_unseen_queries=False)
    assert embedded["dim"] == embedder.dim == len(embedded["embedding"])
    np.testing.assert_allclose(embedded["embedding"], embedder.embed_events(anonymous_events), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(embedded["embedding"], again["embedding"], rtol=1e-6, atol=1e-6)  # order does not matter


def test_unknown_pages_map_to_unknown_tokens_and_are_counted(client: httpx.Client, anonymous_events: list[dict]) -> None:
    strange = [{**event, "page_path": f"/never/seen/page-{index}", "page_title": None} for index, event in enumerate(anonymous_events[:5])]
    strange = [{key: value for key, value in event.items() if value is not None} for event in strange]
    known = _ok(client.post("/embed", json={"events": anonymous_events[:5]}))
    answer = _ok(client.post("/embed", json={"events": strange}))
    assert answer["session"]["unknown_pages"] == 5 and known["session"]["unknown_pages"] < 5
    assert np.isfinite(answer["embedding"]).all()
    assert _ok(client.post("/recommend", json={"events": strange}))["session"]["unknown_pages"] == 5


# ---- login push -----------------------------------------------------------------------------


def test_login_push_then_recommend_uses_the_session(
    world: Settings, client: httpx.Client, anonymous_events: list[dict], known_customer: str
) -> None:
    before = _online(world, known_customer)
    body = _login_body(_fresh_login_session(anonymous_events, known_customer), known_customer, k=3)
    answer = _ok(client.post("/recommend", json=body))
    assert answer["customer_id"] == known_customer and answer["mode"] == "login"
    push = answer["login_push"]
    assert push["status"] == "pushed" and set(push["feature_views"]) == {"customer_web_intent_labels", "customer_web_embedding"}
    after = _online(world, known_customer)
    assert after["n_linked_web_sessions"] == (before["n_linked_web_sessions"] or 0) + 1
    assert after["web_distilled_top_node_id"] == answer["intent"]["top_node_id"]
    assert not np.allclose(after["web_embedding"], before["web_embedding"])
    # The client re-sends the growing session on the next page: pushed once.
    again = _ok(client.post("/recommend", json=body))
    assert again["login_push"]["status"] == "already_pushed"
    assert _online(world, known_customer)["n_linked_web_sessions"] == after["n_linked_web_sessions"]
    assert _ok(client.post("/recommend", json={"customer_id": known_customer}))["mode"] == "customer"


def test_a_login_session_the_batch_pipeline_already_linked_is_not_pushed_again(world: Settings, client: httpx.Client) -> None:
    session_id, customer = pick(
        "select session_id, customer_id from read_parquet(?) where platform = 'web' and list_contains(event_types, 'login') "
        "order by session_end_ts desc, session_id limit 1",
        [mart_glob(world.marts_dir, "fct_session_sequences")],
    )
    before = _online(world, customer)
    assert before["n_linked_web_sessions"], "the batch pipeline linked this customer's login session"
    body = {
        "session_id": session_id,
        "events": session_events(world, session_id),
        "login_assertion": login_assertion(customer, session_id),
    }
    answer = _ok(client.post("/recommend", json=body))
    assert answer["customer_id"] == customer and answer["login_push"]["status"] == "already_pushed"
    assert _online(world, customer) == before


def test_an_unknown_customer_id_creates_no_entity_key(world: Settings, client: httpx.Client, anonymous_events: list[dict]) -> None:
    """A signed login for a customer the bank's batch data does not know is answered, not stored."""
    customer = f"c_new_{uuid.uuid4().hex[:8]}"
    assert _ok(client.post("/recommend", json={"customer_id": customer}))["mode"] == "cold_start"
    answer = _ok(client.post("/recommend", json=_login_body(_fresh_login_session(anonymous_events, customer), customer)))
    push = answer["login_push"]
    assert push["status"] == "refused" and "unknown" in push["reason"] and push["feature_views"] == []
    assert answer["mode"] == "anonymous" and answer["products"]
    assert _online(world, customer)["n_linked_web_sessions"] is None
    assert _stored_entity_keys(world, customer) == 0


def _stored_entity_keys(settings: Settings, customer_id: str) -> int:
    """Rows of any online table whose entity key names this customer (SQLite store)."""
    with sqlite3.connect(settings.feast_dir / "online_store.db", timeout=10) as connection:
        tables = [row[0] for row in connection.execute("select name from sqlite_master where type = 'table'")]
        return sum(
            connection.execute(f'select count(*) from "{table}" where instr(entity_key, ?) > 0', [customer_id.encode()]).fetchone()[0]
            for table in tables
        )


# ---- trusted callers and pushes ---------------------------------------------------------------


def test_every_route_but_the_probes_needs_an_api_key_with_its_scope(service) -> None:
    with httpx.Client(base_url=service.url, timeout=30.0) as anonymous:
        assert anonymous.get("/readyz").status_code == 200
        for method, path in (("POST", "/recommend"), ("POST", "/intent"), ("GET", "/metrics"), ("GET", "/docs.json")):
            response = anonymous.request(method, path, json={} if method == "POST" else None)
            assert response.status_code == 401, (path, response.status_code)
        assert anonymous.post("/recommend", json={}, headers={"Authorization": "Bearer not-a-key"}).status_code == 401
        reader = auth_headers(READ_KEY)
        assert anonymous.post("/recommend", json={"k": 1}, headers=reader).status_code == 200
        assert anonymous.get("/metrics", headers=reader).status_code == 403
        assert anonymous.get("/metrics", headers=auth_headers()).status_code == 200


def test_a_push_without_the_scope_or_with_a_forged_assertion_writes_nothing(
    world: Settings, service, client: httpx.Client, anonymous_events: list[dict], known_customer: str
) -> None:
    before = _online(world, known_customer)
    events = _fresh_login_session(anonymous_events, known_customer)
    with httpx.Client(base_url=service.url, timeout=30.0, headers=auth_headers(READ_KEY)) as reader:
        no_scope = _ok(reader.post("/recommend", json=_login_body(events, known_customer)))
    assert no_scope["login_push"]["status"] == "refused" and "push" in no_scope["login_push"]["reason"]
    assert no_scope["mode"] == "login" and no_scope["products"]
    unsigned = _ok(client.post("/recommend", json={"session_id": "s_test_unsigned", "events": events}))
    assert unsigned["login_push"]["status"] == "refused" and "no login_assertion" in unsigned["login_push"]["reason"]
    forged = _login_body(events, "c_someone_else")  # signed for another customer
    answer = _ok(client.post("/recommend", json=forged))
    assert answer["login_push"]["status"] == "refused" and "does not verify" in answer["login_push"]["reason"]
    stale = {**_login_body(events, known_customer), "session_id": "s_test_stale"}
    stale["login_assertion"] = login_assertion(known_customer, "s_test_stale", issued_at=int(time.time()) - 3600)
    assert "expired" in _ok(client.post("/recommend", json=stale))["login_push"]["reason"]
    assert _online(world, known_customer) == before


def test_a_future_dated_login_is_clamped_to_the_services_clock(
    world: Settings, client: httpx.Client, anonymous_events: list[dict], known_customer: str
) -> None:
    events = _fresh_login_session(anonymous_events, known_customer)
    future = datetime.now(UTC) + timedelta(days=3650)
    events[-1]["event_ts"] = future.isoformat()
    answer = _ok(client.post("/recommend", json=_login_body(events, known_customer)))
    assert answer["login_push"]["status"] == "pushed" and answer["session"]["future_events_clamped"] == 1
    with sqlite3.connect(world.feast_dir / "online_store.db", timeout=10) as connection:
        stamps = connection.execute(
            "select max(event_ts) from clickintent_customer_web_embedding where instr(entity_key, ?) > 0", [known_customer.encode()]
        ).fetchone()[0]
    stored = datetime.fromtimestamp(int(stamps), UTC)  # Feast's SQLite store keeps epoch seconds
    assert stored <= datetime.now(UTC) + timedelta(seconds=world.clock_skew_seconds + 5)


# ---- limits and errors ------------------------------------------------------------------------


def test_every_limit_and_malformed_input_answers_4xx_naming_the_field(client: httpx.Client, anonymous_events: list[dict]) -> None:
    event = anonymous_events[0]
    many = [{**event, "event_id": f"e{i}"} for i in range(MAX_EVENTS + 1)]
    assert ["events"] in _field_error(client.post("/recommend", json={"events": many}))
    assert ["events"] in _field_error(client.post("/intent", json={"events": many}))
    assert ["events"] in _field_error(client.post("/embed", json={"events": []}))
    too_many = [f"p{i}" for i in range(MAX_CANDIDATES + 1)]
    assert ["candidates"] in _field_error(client.post("/recommend", json={"candidates": too_many}))
    assert ["k"] in _field_error(client.post("/recommend", json={"k": MAX_K + 1}))
    assert ["k"] in _field_error(client.post("/recommend", json={"k": 0}))
    assert ["candidates", 1] in _field_error(client.post("/recommend", json={"candidates": ["mtg_refinance", "no_such_product"]}))
    assert ["events", 0, "event_ts"] in _field_error(
        client.post("/recommend", json={"events": [{k: v for k, v in event.items() if k != "event_ts"}]})
    )
    assert ["events", 0, "platform"] in _field_error(client.post("/intent", json={"events": [{**event, "platform": "tv"}]}))
    assert ["events", 0, "dwell_ms"] in _field_error(client.post("/embed", json={"events": [{**event, "dwell_ms": -5}]}))
    assert ["customer_id"] in _field_error(client.post("/recommend", json={"customer_id": 42}))
    mixed = [event, {**anonymous_events[1], "anonymous_id": "a_someone_else"}]
    assert "anonymous_id" in client.post("/recommend", json={"events": mixed}).text
    assert client.post("/recommend", content=b"{not json", headers={"content-type": "application/json"}).status_code == 400
    big = b'{"events": [], "padding": "' + b"x" * MAX_BODY_BYTES + b'"}'
    assert ["body"] in _field_error(client.post("/recommend", content=big, headers={"content-type": "application/json"}), status=413)
    assert client.post("/recommend", content=b"{}", headers={"content-type": "text/plain"}).status_code == 415
    assert client.get("/recommend").status_code == 405


def test_schemathesis_finds_no_server_error_in_500_generated_requests(service, tmp_path: Path) -> None:
    reports = tmp_path / "schemathesis"
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{service.url}/docs.json",
        "--checks",
        "not_a_server_error",
        "--include-method",
        "POST",
        "--header",
        f"Authorization: Bearer {PUSH_KEY}",
        "--max-examples",
        "90",
        "--seed",
        "7",
        "--workers",
        "2",
        "--report",
        "har",
        "--report-har-path",
        str(reports / "requests.har"),
    ]
    # Run from tmp_path: schemathesis keeps its cache (.schemathesis/) and Hypothesis its example
    # database (.hypothesis/) in the working directory, which must not be the checkout.
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    entries = json.loads((reports / "requests.har").read_text())["log"]["entries"]
    posts = [entry for entry in entries if entry["request"]["method"] == "POST"]
    server_errors = [entry for entry in entries if entry["response"]["status"] >= 500]
    assert not server_errors, json.dumps(server_errors[:2])[:3000]
    assert completed.returncode == 0, completed.stdout[-3000:]
    assert len(posts) >= 500, f"only {len(posts)} generated requests"
    assert {entry["response"]["status"] for entry in posts} >= {200, 400}


# ---- degraded: the online store fails -----------------------------------------------------------


def test_unavailable_sqlite_store_gives_a_flagged_degraded_answer(
    world: Settings, client: httpx.Client, known_customer: str, anonymous_events: list[dict]
) -> None:
    table = "clickintent_customer_profile"
    database = world.feast_dir / "online_store.db"
    with sqlite3.connect(database, timeout=10) as connection:
        connection.execute(f"alter table {table} rename to {table}_away")
    try:
        alone = _ok(client.post("/recommend", json={"customer_id": known_customer, "k": 3}))
        assert alone["degraded"] and "online store unavailable" in alone["degraded_reasons"][0]
        assert alone["mode"] == "cold_start" and len(alone["products"]) == 3
        login = _ok(client.post("/recommend", json=_login_body(_fresh_login_session(anonymous_events, known_customer), known_customer)))
        assert login["degraded"] and login["login_push"]["status"] == "failed" and login["mode"] == "anonymous"
    finally:
        with sqlite3.connect(database, timeout=10) as connection:
            connection.execute(f"alter table {table}_away rename to {table}")
    assert not _ok(client.post("/recommend", json={"customer_id": known_customer}))["degraded"]


# ---- Redis: the store for concurrent pushes ---------------------------------------------------


@pytest.fixture(scope="module")
def redis_world(world: Settings, tmp_path_factory):
    """The world's online features in a Redis of its own (skipped without redis-server)."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed (Debian package redis-server; .ci/run installs it)")
    root = tmp_path_factory.mktemp("redis_world")
    port = free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_for_port(port)
        shutil.copytree(world.data_dir, root / "data", ignore=shutil.ignore_patterns("online_store.db*", "reports"))
        settings = load_settings(
            data_dir=root / "data", models_dir=world.models_dir, online_store="redis", redis_url=f"127.0.0.1:{port}", threads=1
        )
        from clickintent.features.store import feature_store

        store = feature_store(settings)
        views = ["customer_profile", "product_features", "customer_web_intent", "customer_web_intent_labels", "customer_web_embedding"]
        store.materialize(start_date=datetime(2000, 1, 1, tzinfo=UTC), end_date=datetime.now(UTC), feature_views=views)
        yield settings, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGCONT)
            process.terminate()
            process.wait(timeout=10)


def _wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


def test_redis_store_login_push_then_recommend_and_degraded_when_redis_stops(
    redis_world, anonymous_events: list[dict], known_customer: str, tmp_path: Path
) -> None:
    settings, redis_process = redis_world
    with (
        start_service(
            settings, log_path=tmp_path / "redis_service.log", timeout=180, extra_environment=service_auth_environment()
        ) as served,
        httpx.Client(base_url=served.url, timeout=30.0, headers=auth_headers()) as http,
    ):
        before = _online(settings, known_customer)
        assert _ok(http.post("/recommend", json={"customer_id": known_customer}))["mode"] == "customer"
        answer = _ok(http.post("/recommend", json=_login_body(_fresh_login_session(anonymous_events, known_customer), known_customer)))
        assert answer["login_push"]["status"] == "pushed" and not answer["degraded"]
        assert _online(settings, known_customer)["n_linked_web_sessions"] == (before["n_linked_web_sessions"] or 0) + 1
        os.killpg(redis_process.pid, signal.SIGSTOP)  # Redis hangs: requests must not
        try:
            started = time.monotonic()
            stalled = _ok(http.post("/recommend", json={"customer_id": known_customer, "k": 3}))
            assert stalled["degraded"] and stalled["mode"] == "cold_start" and time.monotonic() - started < 5.0
        finally:
            os.killpg(redis_process.pid, signal.SIGCONT)
        recovered = _ok(http.post("/recommend", json={"customer_id": known_customer}))
        assert not recovered["degraded"] and recovered["mode"] == "customer"


# ---- start-up failures, the CLI, bentoml build -------------------------------------------------


def test_a_missing_model_fails_start_up_with_a_clear_message_and_never_ready(world: Settings, tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(world.models_dir, models, ignore=shutil.ignore_patterns("tile_ranker"))
    served = start_service(
        world.model_copy(update={"models_dir": models}),
        log_path=tmp_path / "broken.log",
        wait=False,
        extra_environment=service_auth_environment(),
    )
    try:
        deadline = time.monotonic() + 180
        while "model 'tile_ranker' not found" not in served.log_tail(400) and time.monotonic() < deadline:
            time.sleep(0.5)
        log = served.log_path.read_text()
        assert "model 'tile_ranker' not found" in log and "clickintent rank train" in log
        # BentoML keeps retrying the worker; the service never reports ready meanwhile.
        with pytest.raises(ServiceStartError):
            served.wait_ready(timeout=5)
    finally:
        served.stop()


def test_an_incompatible_model_fails_start_up_naming_the_misfit(world: Settings, tmp_path: Path) -> None:
    """A ranker trained on a feature service this Feast registry does not have (in-process: the
    same Recommender.load the worker runs; the served refusal is the test above)."""
    from clickintent.serving.artifacts import ArtifactError
    from clickintent.serving.recommender import Recommender

    models = tmp_path / "models"
    shutil.copytree(world.models_dir, models)
    card_path = models / "tile_ranker" / "model_card.json"
    card = json.loads(card_path.read_text())
    card["feature_service"] = "tile_ranker_v0_retired"
    card_path.write_text(json.dumps(card))
    with pytest.raises(
        ArtifactError, match=r"feature service 'tile_ranker_v0_retired' cannot be read from the Feast registry.*clickintent features apply"
    ):
        Recommender.load(world.model_copy(update={"models_dir": models}), push_on_login=False)


def test_a_catalogue_with_a_family_the_models_never_saw_fails_start_up_naming_it(world: Settings, tmp_path: Path) -> None:
    """The rankers' families are their training data's (stored in their cards): the same models
    over a catalogue that gained a family stop the start, naming it, instead of answering
    without it (in-process: the Recommender.load the worker runs)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from clickintent.features.dbt import run_dbt_build
    from clickintent.features.store import apply_feature_repo
    from clickintent.serving.artifacts import ArtifactError
    from clickintent.serving.recommender import Recommender

    data = tmp_path / "data"
    shutil.copytree(world.data_dir, data, ignore=shutil.ignore_patterns("*.log", "reports"))
    settings = world.model_copy(update={"data_dir": data})
    products = pq.read_table(data / "raw" / "products.parquet")
    pension = {**products.slice(0, 1).to_pylist()[0], "product_id": "p_pension", "product_name": "Personal Pension", "family": "pensions"}
    pq.write_table(pa.concat_tables([products, pa.Table.from_pylist([pension], schema=products.schema)]), data / "raw" / "products.parquet")
    result = run_dbt_build(settings, quiet=True)
    assert result.success, result.summary()
    apply_feature_repo(settings)
    with pytest.raises(
        ArtifactError, match=r"the tile_ranker model was trained on the product families .*new in the data: pensions.*retrain"
    ):
        Recommender.load(settings, push_on_login=False)


def test_a_model_reading_a_feature_its_service_no_longer_has_fails_start_up_naming_it(world: Settings, tmp_path: Path) -> None:
    """A model trained before a mart column was renamed (the per-family holds_<family> flags, now
    held_product_families) would read it as missing on every request; the start refuses it."""
    from clickintent.serving.artifacts import ArtifactError
    from clickintent.serving.recommender import Recommender

    models = tmp_path / "models"
    shutil.copytree(world.models_dir, models)
    card_path = models / "tile_ranker" / "model_card.json"
    card = json.loads(card_path.read_text())
    card["layout"]["feast_features"].append("holds_cards")
    card["layout"]["feature_references"].append("customer_profile:holds_cards")
    card_path.write_text(json.dumps(card))
    with pytest.raises(
        ArtifactError, match=r"the tile_ranker model reads customer_profile:holds_cards, which its feature service 'tile_ranker_v2'"
    ):
        Recommender.load(world.model_copy(update={"models_dir": models}), push_on_login=False)


def test_the_ranker_names_the_taxonomy_and_encoder_it_trained_on_and_refuses_another_encoder(world: Settings, tmp_path: Path) -> None:
    """The stages' own outputs: the ranker's card carries the versions read from its training data,
    which are the loaded classifier's and encoder's, so the service starts; an encoder with other
    weights (a resumed training) is refused until the ranker is retrained on its embeddings."""
    from clickintent.serving.artifacts import ArtifactError
    from clickintent.serving.recommender import Recommender

    def card(name: str) -> dict:
        return json.loads((world.models_dir / name / "model_card.json").read_text())

    ranker = card("tile_ranker")
    assert ranker["taxonomy_version"] == card("intent_classifier")["taxonomy_version"]
    assert ranker["encoder_version"] == card("encoder")["version"]
    models = tmp_path / "models"
    shutil.copytree(world.models_dir, models)
    card_path = models / "tile_ranker" / "model_card.json"
    card_path.write_text(json.dumps({**ranker, "encoder_version": "v1-00000000"}))
    with pytest.raises(
        ArtifactError, match=rf"encoder v1-00000000 but the loaded encoder is {ranker['encoder_version']}.*clickintent rank train"
    ):
        Recommender.load(world.model_copy(update={"models_dir": models}), push_on_login=False)


def test_the_serve_command_refuses_a_models_directory_without_models(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from clickintent.cli.serve import serve

    app = typer.Typer()
    app.command()(serve)
    result = CliRunner().invoke(app, ["--models-dir", str(tmp_path / "empty"), "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 2
    assert "model 'encoder' not found" in result.output and "clickintent encoder train" in result.output


def test_the_serve_command_stops_the_service_on_sigterm(world: Settings, tmp_path: Path) -> None:
    """A supervisor stops `clickintent serve` with SIGTERM: BentoML and its worker must go too."""
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    command = [
        sys.executable,
        "-m",
        "clickintent.cli.main",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(world.data_dir),
        "--models-dir",
        str(world.models_dir),
    ]
    cli = subprocess.Popen(
        command,
        cwd=str(PROJECT),
        env={**os.environ, **service_auth_environment()},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert cli.poll() is None, (tmp_path / "serve.log").read_text()[-2000:]
            time.sleep(0.5)
        else:
            pytest.fail("the service did not become ready: " + (tmp_path / "serve.log").read_text()[-2000:])
        cli.send_signal(signal.SIGTERM)  # the command only, not its process group
        cli.wait(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) != 0:
                    break
            time.sleep(0.5)
        else:
            pytest.fail(f"port {port} still served 30 s after the serve command got SIGTERM")
    finally:
        try:
            os.killpg(cli.pid, signal.SIGKILL)  # whatever is left of the group
        except ProcessLookupError:
            pass
        log.close()


def test_bentoml_build_bundles_the_models_and_the_bento_serves(world: Settings, tmp_path: Path) -> None:
    home = tmp_path / "bentoml_home"
    environment = service_environment(world, extra={"BENTOML_HOME": str(home), **service_auth_environment()})
    build = subprocess.run(
        [sys.executable, "-m", "bentoml", "build", "-f", "serving/bentofile.yaml", "--output", "tag"],
        cwd=PROJECT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    tag = build.stdout.strip().splitlines()[-1].removeprefix("__tag__:")
    bento_yaml = next((home / "bentos" / "clickintent").glob("*/bento.yaml")).read_text()
    models = ("encoder", "intent_classifier", "tile_ranker", "conversion", "anonymous_ranker")
    for model in (f"clickintent-{name}" for name in models):
        assert model in bento_yaml and list((home / "models" / model).glob("*/*/model_card.json"))
    # Served from the Bento with no model directory: the bundled copies are used.
    environment.pop("CLICKINTENT_MODELS_DIR")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bentoml", "serve", tag, "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        env=environment,
        stdout=(tmp_path / "bento.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "bento.log").read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        answer = _ok(
            httpx.post(
                f"http://127.0.0.1:{port}/intent",
                headers=auth_headers(),
                json={
                    "events": [
                        {
                            "event_id": "e1",
                            "event_ts": "2026-03-02T09:00:00Z",
                            "platform": "web",
                            "anonymous_id": "a1",
                            "event_type": "page_view",
                            "page_path": "/mortgages",
                            "device_type": "mobile",
                        }
                    ]
                },
                timeout=30,
            )
        )
        card = json.loads((world.models_dir / "intent_classifier" / "model_card.json").read_text())
        assert answer["model_version"] == card["version"]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
