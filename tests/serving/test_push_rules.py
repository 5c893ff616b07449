"""Which login may write to the online store, in process: `Recommender.recommend` for real on
stand-in models and a recording store (support.stand_in_recommender). Over HTTP, with a real
Feast store, the same rules are tested in test_serving_service.py."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from clickintent.serving.recommender import PUSHED_ROW_LEAD, clamp_event_times
from clickintent.serving.session import live_session_id
from serving.schemas import RecommendResponse
from support.service_auth import login_assertion
from support.stand_in_recommender import CUSTOMER, WEB_LOGIN, stand_in_recommender, validated_events


def _login(recommender, events=None, **kwargs):
    events = events or validated_events(*WEB_LOGIN)
    return recommender.recommend(events=events, k=2, **kwargs)


def test_a_proven_login_of_a_known_customer_pushes(tmp_path) -> None:
    recommender, online = stand_in_recommender(tmp_path)
    events = validated_events(*WEB_LOGIN)
    answer = _login(recommender, events, may_push=True, login_assertion=login_assertion(CUSTOMER, live_session_id(events)))
    assert answer["login_push"]["status"] == "pushed" and len(online.pushes) == 2
    RecommendResponse.model_validate(answer)


def test_without_the_push_scope_nothing_is_written_and_the_answer_says_why(tmp_path) -> None:
    recommender, online = stand_in_recommender(tmp_path)
    events = validated_events(*WEB_LOGIN)
    answer = _login(recommender, events, may_push=False, login_assertion=login_assertion(CUSTOMER, live_session_id(events)))
    assert online.pushes == []
    assert answer["login_push"]["status"] == "refused" and "'push' scope" in answer["login_push"]["reason"]
    assert answer["products"] and answer["customer_id"] == CUSTOMER
    RecommendResponse.model_validate(answer)


def test_a_missing_forged_expired_or_future_assertion_writes_nothing(tmp_path) -> None:
    recommender, online = stand_in_recommender(tmp_path)
    events = validated_events(*WEB_LOGIN)
    session_id = live_session_id(events)
    now = int(time.time())
    cases = {
        "no login_assertion": None,
        "not in the form": "v1:abc:def",
        "does not verify": login_assertion("c_another_customer", session_id),
        "expired": login_assertion(CUSTOMER, session_id, issued_at=now - 3600),
        "in the future": login_assertion(CUSTOMER, session_id, issued_at=now + 3600),
    }
    for expected, assertion in cases.items():
        answer = _login(recommender, events, may_push=True, login_assertion=assertion)
        assert answer["login_push"]["status"] == "refused" and expected in answer["login_push"]["reason"], expected
        assert assertion is None or assertion not in answer["login_push"]["reason"]
    assert online.pushes == []


def test_an_unknown_customer_gets_an_answer_and_no_row(tmp_path) -> None:
    recommender, online = stand_in_recommender(tmp_path, known=False)
    events = validated_events(*WEB_LOGIN)
    answer = _login(recommender, events, may_push=True, login_assertion=login_assertion(CUSTOMER, live_session_id(events)))
    assert online.pushes == [] and answer["login_push"]["status"] == "refused" and "unknown" in answer["login_push"]["reason"]
    assert answer["products"]


def test_without_an_assertion_key_no_login_is_ever_pushed(tmp_path) -> None:
    recommender, online = stand_in_recommender(tmp_path)
    recommender.login_assertions = type(recommender.login_assertions)(None, 300, 300)
    events = validated_events(*WEB_LOGIN)
    answer = _login(recommender, events, may_push=True, login_assertion=login_assertion(CUSTOMER, live_session_id(events)))
    assert online.pushes == [] and "no login_assertion_key" in answer["login_push"]["reason"]


def test_future_event_times_are_clamped_before_anything_is_pushed(tmp_path) -> None:
    recommender, online = stand_in_recommender(tmp_path)
    now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    events = validated_events(*WEB_LOGIN)
    events[-1] = {**events[-1], "event_ts": datetime(9999, 1, 1, tzinfo=UTC)}
    # The assertion is checked against the service's clock: sign it at that time.
    assertion = login_assertion(CUSTOMER, live_session_id(events), issued_at=int(now.timestamp()))
    answer = _login(recommender, events, may_push=True, login_assertion=assertion, now=now)
    latest = now + timedelta(seconds=recommender.settings.clock_skew_seconds)
    assert answer["session"]["future_events_clamped"] == 1 and answer["login_push"]["status"] == "pushed"
    assert {row["as_of_ts"] for _, row in online.pushes} == {latest - PUSHED_ROW_LEAD}


def test_clamping_leaves_past_events_alone_and_copies_before_changing() -> None:
    latest = datetime(2026, 3, 2, tzinfo=UTC)
    past = [{"event_ts": latest - timedelta(hours=1)}]
    assert clamp_event_times(past, latest) == (past, 0)
    future = [{"event_ts": latest + timedelta(days=1)}, {"event_ts": latest - timedelta(days=1)}]
    clamped, count = clamp_event_times(future, latest)
    assert count == 1 and clamped[0]["event_ts"] == latest and clamped[1] == future[1]
    assert future[0]["event_ts"] == latest + timedelta(days=1)  # the caller's events are not changed
