"""The serving pieces that need no served process: request schema, limits, model-card checks,
login-push arithmetic, live-session aggregates, the request-limit middleware. Fast."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from clickintent.events.contract import EVENTS, MAX_TEXT_CHARS, UNKNOWN_EVENT_TYPE
from clickintent.serving.artifacts import ArtifactError, check_compatibility, read_model_card, read_model_cards
from clickintent.serving.http import RequestLimits
from clickintent.serving.live_features import PageTaxonomy, merge_aggregates, session_aggregates
from clickintent.serving.login import APP_VECTORS, JOURNEY_VECTORS, WEB_VECTORS, login_rows, recency_update, vectors_with_session
from clickintent.serving.session import live_session_id, login_customer
from clickintent.taxonomy.dbt_rules import url_section
from serving.schemas import (
    EXAMPLE_EVENTS,
    EXAMPLE_LOGIN_EVENT,
    EXAMPLE_RECOMMEND_REQUESTS,
    MAX_CANDIDATES,
    MAX_EVENTS,
    LiveEvent,
    RecommendRequest,
    SessionRequest,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _locations(error: ValidationError) -> list[tuple]:
    return [tuple(item["loc"]) for item in error.errors()]


# ---- schema -------------------------------------------------------------------------------


def test_live_events_mirror_the_event_contract_field_for_field() -> None:
    assert list(LiveEvent.model_fields) == EVENTS.column_names
    required = {name for name, field in LiveEvent.model_fields.items() if field.is_required()}
    assert required == {column.name for column in EVENTS.columns if not column.nullable}
    for column in EVENTS.columns:
        if column.allowed and column.unknown_as is None:
            schema = LiveEvent.model_json_schema()["properties"][column.name]
            assert set(schema["enum"]) == set(column.allowed), column.name
        elif column.unknown_as is not None:
            # kept, as the loader keeps it: an unknown value becomes the contract's catch-all
            event = LiveEvent.model_validate({**EXAMPLE_EVENTS[0], column.name: "consent_banner_shown"})
            assert getattr(event, column.name) == column.unknown_as, column.name


def test_device_types_are_an_open_set_as_in_the_loader() -> None:
    assert LiveEvent.model_validate({**EXAMPLE_EVENTS[0], "device_type": "smart_tv"}).device_type == "smart_tv"
    assert LiveEvent.model_validate({**EXAMPLE_EVENTS[0], "device_type": "Smart TV"}).device_type == "Smart TV"


def test_a_tracker_event_type_with_spaces_is_kept_as_the_catch_all_as_in_the_loader() -> None:
    # Segment's track events are named in words ("Order Completed").
    assert LiveEvent.model_validate({**EXAMPLE_EVENTS[0], "event_type": "Order Completed"}).event_type == UNKNOWN_EVENT_TYPE


def test_every_documented_example_is_a_valid_request() -> None:
    for body in EXAMPLE_RECOMMEND_REQUESTS.values():
        RecommendRequest.model_validate(body)
    SessionRequest.model_validate({"events": EXAMPLE_EVENTS})


def test_naive_timestamps_are_read_as_utc_and_offsets_converted() -> None:
    naive = LiveEvent.model_validate({**EXAMPLE_EVENTS[0], "event_ts": "2026-03-02T09:00:00"})
    offset = LiveEvent.model_validate({**EXAMPLE_EVENTS[0], "event_ts": "2026-03-02T10:00:00+01:00"})
    assert naive.event_ts == offset.event_ts == T0 and offset.event_ts.tzinfo == UTC


@pytest.mark.parametrize(
    ("change", "location"),
    [
        ({"platform": "tv"}, ("events", 0, "platform")),
        ({"event_type": "page_view\n"}, ("events", 0, "event_type")),
        ({"event_type": ""}, ("events", 0, "event_type")),
        ({"device_type": "x" * (MAX_TEXT_CHARS + 1)}, ("events", 0, "device_type")),
        ({"dwell_ms": -1}, ("events", 0, "dwell_ms")),
        ({"event_ts": "yesterday"}, ("events", 0, "event_ts")),
        ({"event_ts": "0001-01-01T00:30:00+02:00"}, ("events", 0, "event_ts")),  # no UTC time before year 1
        ({"page_path": ""}, ("events", 0, "page_path")),
        ({"anonymous_id": "has space"}, ("events", 0, "anonymous_id")),
        ({"surprise": 1}, ("events", 0, "surprise")),
    ],
)
def test_a_malformed_event_is_rejected_naming_its_field(change: dict, location: tuple) -> None:
    with pytest.raises(ValidationError) as caught:
        RecommendRequest.model_validate({"events": [{**EXAMPLE_EVENTS[0], **change}]})
    assert location in _locations(caught.value)


def test_limits_on_events_candidates_and_k() -> None:
    event = EXAMPLE_EVENTS[0]
    too_many = [{**event, "event_id": f"e{i}"} for i in range(MAX_EVENTS + 1)]
    with pytest.raises(ValidationError) as caught:
        RecommendRequest.model_validate({"events": too_many})
    assert ("events",) in _locations(caught.value)
    with pytest.raises(ValidationError) as caught:
        RecommendRequest.model_validate({"candidates": [f"p{i}" for i in range(MAX_CANDIDATES + 1)]})
    assert ("candidates",) in _locations(caught.value)
    for k in (0, 51):
        with pytest.raises(ValidationError) as caught:
            RecommendRequest.model_validate({"k": k})
        assert ("k",) in _locations(caught.value)
    with pytest.raises(ValidationError, match=r"candidates\[1\] repeats 'a'"):
        RecommendRequest.model_validate({"candidates": ["a", "a"]})
    with pytest.raises(ValidationError) as caught:
        SessionRequest.model_validate({"events": []})
    assert ("events",) in _locations(caught.value)


def test_one_session_per_request() -> None:
    other_visitor = {**EXAMPLE_EVENTS[1], "anonymous_id": "a_other"}
    with pytest.raises(ValidationError, match=r"events\[1\]\.anonymous_id differs"):
        RecommendRequest.model_validate({"events": [EXAMPLE_EVENTS[0], other_visitor]})
    app_event = {**EXAMPLE_EVENTS[1], "platform": "app"}
    with pytest.raises(ValidationError, match=r"events\[1\]\.platform"):
        SessionRequest.model_validate({"events": [EXAMPLE_EVENTS[0], app_event]})
    with pytest.raises(ValidationError, match="customer_id differs"):
        RecommendRequest.model_validate({"customer_id": "c_someone_else", "events": [*EXAMPLE_EVENTS, EXAMPLE_LOGIN_EVENT]})


# ---- sessions and login ---------------------------------------------------------------------


def test_live_session_id_is_stable_as_the_session_grows_and_login_is_found() -> None:
    assert live_session_id(EXAMPLE_EVENTS[:1]) == live_session_id(EXAMPLE_EVENTS) == live_session_id(EXAMPLE_EVENTS[::-1])
    assert live_session_id(EXAMPLE_EVENTS) != live_session_id([{**EXAMPLE_EVENTS[0], "anonymous_id": "a_other"}])
    assert login_customer(EXAMPLE_EVENTS) is None
    assert login_customer([*EXAMPLE_EVENTS, EXAMPLE_LOGIN_EVENT]) == "c_8d2e4f6a1b3c"
    assert login_customer([{**EXAMPLE_LOGIN_EVENT, "platform": "app"}]) is None


def test_recency_update_matches_the_batch_formula_for_one_earlier_session() -> None:
    earlier, later = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    two_weeks = timedelta(days=14)
    merged = recency_update(earlier, T0, 1, later, T0 + two_weeks, half_life_days=14.0)
    # weights 0.5 (two weeks old) and 1: (0.5 * earlier + later) / 1.5, as recency_weighted_as_of computes
    np.testing.assert_allclose(merged, [1 / 3, 2 / 3])
    assert np.array_equal(recency_update(None, None, 0, later, T0, 14.0), later)


def test_login_rows_count_the_session_and_keep_teacher_labels() -> None:
    stored = {
        "n_linked_web_sessions": 2,
        "web_embedding": [1.0, 1.0],
        "web_distilled_top_node_probs": [0.9, 0.1],
        "web_teacher_top_node_id": "mortgage_loan",
        "web_teacher_top_node_dist": [1.0, 0.0],
    }
    stamps = {"web_embedding": T0, "web_distilled_top_node_probs": T0}
    rows = login_rows(
        customer_id="c1",
        session_id="s1",
        session_end=T0,
        session_embedding=[0.0, 0.0],
        session_top_node_id="auto_car",
        session_top_node_probs=[0.1, 0.9],
        stored=stored,
        stored_at=stamps,
    )
    assert rows.n_linked_web_sessions == 3
    assert rows.intent_labels["web_teacher_top_node_id"] == "mortgage_loan"
    assert rows.intent_labels["web_distilled_top_node_id"] == "auto_car"
    np.testing.assert_allclose(rows.embedding["web_embedding"], [2 / 3, 2 / 3], rtol=1e-6)
    np.testing.assert_allclose(rows.intent_labels["web_distilled_top_node_probs"], [(1.8 + 0.1) / 3, (0.2 + 0.9) / 3], rtol=1e-6)
    fresh = login_rows(
        customer_id="c2",
        session_id="s2",
        session_end=T0,
        session_embedding=[0.5, 0.5],
        session_top_node_id="auto_car",
        session_top_node_probs=[0.1, 0.9],
        stored={},
        stored_at={},
    )
    assert fresh.n_linked_web_sessions == 1 and fresh.embedding["web_embedding"] == [0.5, 0.5]


@pytest.mark.parametrize("names", [WEB_VECTORS, JOURNEY_VECTORS, APP_VECTORS], ids=["web", "journey", "app"])
def test_a_session_joins_stored_vectors_weighted_by_their_count_and_a_non_finite_count_is_no_history(names) -> None:
    stored = {names.embedding: [1.0, 0.0], names.top_node_probs: [1.0, 0.0], names.count: 3}
    stamps = dict.fromkeys((names.embedding, names.top_node_probs), T0)
    merged = vectors_with_session(names, stored, stamps, [0.0, 1.0], [0.0, 1.0], T0, half_life_days=14.0)
    # same time, so no decay: weights 3 and 1
    assert merged[names.count] == 4
    np.testing.assert_allclose(merged[names.embedding], [0.75, 0.25])
    np.testing.assert_allclose(merged[names.top_node_probs], [0.75, 0.25])
    broken = vectors_with_session(names, {**stored, names.count: float("nan")}, stamps, [0.0, 1.0], [0.0, 1.0], T0)
    assert broken[names.count] == 1 and broken[names.embedding] == [0.0, 1.0]


# ---- live aggregates (dbt's fct_web_sessions / fct_customer_web_intent, in Python) ---------------


def test_live_aggregates_follow_dbts_definitions() -> None:
    taxonomy = PageTaxonomy(
        top_node_of_page={"/mortgages/refinance": "mortgage_loan"}, top_node_order=("mortgage_loan", "section:search", "unknown")
    )
    events = [
        {**EXAMPLE_EVENTS[1], "event_ts": T0},
        {**EXAMPLE_EVENTS[2], "event_ts": T0 + timedelta(seconds=60)},
        {**EXAMPLE_EVENTS[2], "event_id": "x", "event_ts": T0 + timedelta(seconds=90), "event_type": "page_view", "page_path": "/404"},
    ]
    session = session_aggregates(events, taxonomy)
    assert session["n_events"] == 3 and session["n_searches_30d"] == 1 and session["n_calculator_events_30d"] == 1
    assert session["n_page_views_30d"] == 1 and session["n_product_events"] == 2 and session["depth"] == 3
    assert session["duration_s"] == 90.0 and session["node_events"].tolist() == [1.0, 1.0, 1.0]
    alone = merge_aggregates({}, None, session, taxonomy)
    assert alone["n_linked_sessions_30d"] == 1 and alone["n_events_30d"] == 3
    np.testing.assert_allclose(alone["taxonomy_node_shares_30d"], [1 / 3] * 3, rtol=1e-6)
    stored = {
        "n_linked_sessions_30d": 2,
        "n_events_30d": 7,
        "n_searches_30d": 2,
        "mean_session_duration_s_30d": 30.0,
        "max_session_depth_30d": 5,
        "active_span_days_30d": 1.0,
        "taxonomy_node_shares_30d": [1.0, 0.0, 0.0],
        "total_dwell_s_30d": 10.0,
    }
    merged = merge_aggregates(stored, T0 - timedelta(days=1), session, taxonomy)
    assert merged["n_linked_sessions_30d"] == 3 and merged["n_events_30d"] == 10 and merged["n_searches_30d"] == 3
    assert merged["mean_session_duration_s_30d"] == pytest.approx((30.0 * 2 + 90.0) / 3)
    assert merged["max_session_depth_30d"] == 5 and merged["active_span_days_30d"] == pytest.approx(2.0 + 90 / 86400)
    assert merged["top_taxonomy_node_id_30d"] == "mortgage_loan" and merged["top_taxonomy_node_share_30d"] == pytest.approx(0.8)
    assert url_section("/app/cards/lock") == "cards" and url_section("/") == "home" and url_section("/Mortgages/x") == "mortgages"


# ---- model cards -----------------------------------------------------------------------------


def _card(directory: Path, name: str, **fields) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model_card.json").write_text(json.dumps({"name": name, "version": "1", "created_at": "2026-01-01", **fields}))


def test_model_card_problems_are_named_and_all_reported_at_once(tmp_path: Path) -> None:
    _card(tmp_path / "tile_ranker", "tile_ranker")
    _card(tmp_path / "intent_classifier", "encoder")  # a card for another model
    (tmp_path / "intent_classifier" / "weights.safetensors").write_bytes(b"")
    (tmp_path / "intent_classifier" / "features.json").write_text("{}")
    assert read_model_card(tmp_path / "tile_ranker", "tile_ranker").version == "1"
    with pytest.raises(ArtifactError) as caught:
        read_model_cards({name: tmp_path / name for name in ("encoder", "intent_classifier", "tile_ranker")})
    message = str(caught.value)
    assert "model 'encoder' not found" in message and "clickintent encoder train" in message
    assert "card of model 'encoder', not 'intent_classifier'" in message
    (tmp_path / "tile_ranker" / "model_card.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="not readable JSON"):
        read_model_card(tmp_path / "tile_ranker", "tile_ranker")


def _fitting_models(card) -> dict:
    """check_compatibility's arguments for models that fit `card` (taxonomy v1-old, encoder v1-aaaa1111)."""
    return dict(
        embedding_dim=64,
        classifier_top_nodes=("a", "b"),
        taxonomy_version="v1-old",
        encoder_version="v1-aaaa1111",
        ranker_vector_lengths={"web_embedding": 64, "web_distilled_top_node_probs": 2},
        ranker_card=card,
        ranker_element_labels={"web_distilled_top_node_probs": ["a", "b"]},
        registered_feature_services={"tile_ranker_v2"},
        ranker_feature_service="tile_ranker_v2",
    )


def test_models_that_do_not_fit_together_are_refused(tmp_path: Path) -> None:
    _card(tmp_path / "tile_ranker", "tile_ranker", taxonomy_version="v1-old", encoder_version="v1-aaaa1111")
    fitting = _fitting_models(read_model_card(tmp_path / "tile_ranker", "tile_ranker"))
    check_compatibility(**fitting)
    for change, expected in [
        ({"embedding_dim": 32}, "64-dimensional web embeddings but the encoder produces 32"),
        ({"classifier_top_nodes": ("a", "b", "c")}, "trained on 2 intent top nodes"),
        ({"ranker_element_labels": {"web_distilled_top_node_probs": ["b", "a"]}}, "another top-node order"),
        ({"taxonomy_version": "v2-new"}, "taxonomy v1-old but the intent classifier is v2-new"),
        (
            {"encoder_version": "v1-bbbb2222"},
            r"embeddings of encoder v1-aaaa1111 but the loaded encoder is v1-bbbb2222.*clickintent encoder embed.*clickintent rank train",
        ),
        ({"registered_feature_services": {"other"}}, "feature service 'tile_ranker_v2'"),
    ]:
        with pytest.raises(ArtifactError, match=expected):
            check_compatibility(**{**fitting, **change})


def test_a_ranker_card_without_taxonomy_or_encoder_version_skips_those_checks(tmp_path: Path) -> None:
    """Cards written before the ranker recorded its inputs' versions keep loading beside any
    classifier and encoder; a card with only one of the fields is checked on that one."""
    _card(tmp_path / "old" / "tile_ranker", "tile_ranker")
    old = _fitting_models(read_model_card(tmp_path / "old" / "tile_ranker", "tile_ranker"))
    check_compatibility(**{**old, "taxonomy_version": "v9-other", "encoder_version": "v1-cccc3333"})
    check_compatibility(**{**old, "encoder_version": None})  # an encoder card without a version
    _card(tmp_path / "partial" / "tile_ranker", "tile_ranker", encoder_version="v1-aaaa1111")
    partial = _fitting_models(read_model_card(tmp_path / "partial" / "tile_ranker", "tile_ranker"))
    check_compatibility(**{**partial, "taxonomy_version": "v9-other"})
    with pytest.raises(ArtifactError, match="encoder v1-aaaa1111 but the loaded encoder is v1-cccc3333"):
        check_compatibility(**{**partial, "encoder_version": "v1-cccc3333"})
    # Both misfits at once are both named (one start-up attempt shows them all).
    _card(tmp_path / "both" / "tile_ranker", "tile_ranker", taxonomy_version="v1-old", encoder_version="v1-aaaa1111")
    both = _fitting_models(read_model_card(tmp_path / "both" / "tile_ranker", "tile_ranker"))
    with pytest.raises(ArtifactError) as caught:
        check_compatibility(**{**both, "taxonomy_version": "v2-new", "encoder_version": "v1-cccc3333"})
    assert "taxonomy v1-old" in str(caught.value) and "encoder v1-aaaa1111" in str(caught.value)


# ---- request limits middleware -------------------------------------------------------------


def _call(middleware: RequestLimits, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[int, bytes, bytes]:
    messages = [{"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1} for index, chunk in enumerate(chunks)]
    sent: list[dict] = []

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    asyncio.run(middleware({"type": "http", "method": "POST", "headers": headers}, receive, send))
    status = next((m["status"] for m in sent if m["type"] == "http.response.start"), 0)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body, b""


def test_request_limits_reject_large_and_non_json_bodies_before_the_app() -> None:
    received: list[bytes] = []

    async def app(_scope, receive, send):
        message = await receive()
        received.append(message["body"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    limits = RequestLimits(app, max_bytes=10)
    assert _call(limits, [(b"content-length", b"11")], [b"x" * 11])[0] == 413
    assert _call(limits, [], [b"x" * 6, b"x" * 6])[0] == 413  # chunked, no declared length
    status, body, _ = _call(limits, [(b"content-type", b"multipart/form-data")], [b"{}"])
    assert status == 415 and b"application/json" in body
    assert received == []
    assert _call(limits, [(b"content-type", b"application/json; charset=utf-8")], [b"{", b"}"])[0] == 200
    assert received == [b"{}"]
