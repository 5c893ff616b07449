"""Identity-free mode in the service: a web login writes nothing keyed by the customer.

`Recommender.recommend` runs for real on stand-in models and a recording online store
(support.stand_in_recommender): what is read and pushed is observed directly. The same requests
with the default setting push the login, so the tests would see a push if the mode let one through.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from clickintent.serving.login import LINKING_DISABLED_REASON
from clickintent.serving.online import EMBEDDING_PUSH_SOURCE, INTENT_LABELS_PUSH_SOURCE
from clickintent.serving.recommender import UnknownProducts
from clickintent.serving.session import event_time, live_session_id
from serving.schemas import EXAMPLE_EVENTS, RecommendResponse
from support.service_auth import login_assertion
from support.stand_in_recommender import APP_VALUES, CUSTOMER, LINKED_WEB_VALUES, WEB_LOGIN, expected_in_app_vectors
from support.stand_in_recommender import stand_in_recommender as _recommender
from support.stand_in_recommender import validated_events as _events


def test_default_setting_pushes_a_web_login_to_the_customer(tmp_path) -> None:
    """The control: with "login" the same request reads the customer and pushes two rows keyed by it."""
    recommender, online = _recommender(tmp_path, "login")
    events = _events(*WEB_LOGIN)
    assertion = login_assertion(CUSTOMER, live_session_id(events))
    answer = recommender.recommend(events=events, k=2, may_push=True, login_assertion=assertion)
    assert online.reads == [CUSTOMER]
    assert [source for source, _ in online.pushes] == [INTENT_LABELS_PUSH_SOURCE, EMBEDDING_PUSH_SOURCE]
    assert all(row["customer_id"] == CUSTOMER for _, row in online.pushes)
    assert answer["login_push"]["status"] == "pushed" and answer["customer_id"] == CUSTOMER
    RecommendResponse.model_validate(answer)


def test_identity_free_web_login_pushes_nothing_and_says_why(tmp_path) -> None:
    recommender, online = _recommender(tmp_path, "off")
    answer = recommender.recommend(events=_events(*WEB_LOGIN), k=2)
    assert online.pushes == []  # no push row
    assert online.reads == []  # the customer is not even read: no web -> customer join at request time
    push = answer["login_push"]
    assert push["status"] == "disabled" and push["feature_views"] == [] and push["customer_id"] is None
    assert push["reason"] == LINKING_DISABLED_REASON and "CLICKINTENT_IDENTITY_LINKING" in push["reason"]
    # answered as an anonymous session: the live session alone, no customer named
    assert answer["customer_id"] is None and not answer["customer_known"] and answer["mode"] == "anonymous"
    assert CUSTOMER not in str(answer)
    assert [product["product_id"] for product in answer["products"]] == ["mtg_refinance", "sav_high_yield"]
    RecommendResponse.model_validate(answer)
    # the client re-sends the growing session: still nothing
    recommender.recommend(events=_events(*WEB_LOGIN, {**EXAMPLE_EVENTS[0], "event_id": "e_after", "customer_id": CUSTOMER}), k=2)
    assert online.pushes == [] and online.reads == []


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"customer_id": CUSTOMER, "events": EXAMPLE_EVENTS},  # a pre-login web session sent beside the customer
        {
            "events": [*EXAMPLE_EVENTS, {**EXAMPLE_EVENTS[0], "event_id": "e_signed_in", "customer_id": CUSTOMER}]
        },  # signed in, no login event
    ],
    ids=["request_customer_id", "event_customer_id"],
)
def test_identity_free_web_session_naming_a_customer_is_anonymous(tmp_path, request_kwargs) -> None:
    recommender, online = _recommender(tmp_path, "off")
    answer = recommender.recommend(**{**request_kwargs, "events": _events(*request_kwargs["events"])}, k=2)
    assert online.pushes == [] and online.reads == []
    assert answer["customer_id"] is None and answer["login_push"]["status"] == "disabled"


def test_identity_free_app_request_reads_the_customer_without_linked_web_features(tmp_path) -> None:
    """The app's own sign-in still names the customer: the profile is read, the linked-web
    features a store built with links could still hold are not used, and nothing is pushed."""
    recommender, online = _recommender(tmp_path, "off")
    app_event = {
        **EXAMPLE_EVENTS[0],
        "platform": "app",
        "anonymous_id": "d_app",
        "customer_id": CUSTOMER,
        "event_type": "screen_view",
        "page_path": "/app/home",
    }
    seen: list[dict[str, Any]] = []
    recommender._row = lambda values, product_id: seen.append(dict(values)) or {**values, "product_id": product_id}
    answer = recommender.recommend(events=_events(app_event), k=2)
    assert online.reads == [CUSTOMER] and online.pushes == []
    assert answer["customer_id"] == CUSTOMER and answer["customer_known"] and answer["login_push"] is None
    # the answer says what it read: the profile and the live app session, no linked-web view
    assert {"customer_profile", "live_session"} <= set(answer["features_used"])
    assert not set(answer["features_used"]) & {"customer_web_intent", "customer_web_intent_labels", "customer_web_embedding"}
    assert seen and all(row["segment"] == "mass" for row in seen)
    # the live app session joins the customer's in-app features; no linked-web slot is filled
    assert all(row.get(name) is None for row in seen for name in LINKED_WEB_VALUES)
    assert all(row["n_app_sessions"] == APP_VALUES["n_app_sessions"] + 1 for row in seen)
    expected_embedding, expected_probs = expected_in_app_vectors(event_time(app_event["event_ts"]))
    np.testing.assert_allclose(seen[0]["app_embedding"], expected_embedding, rtol=1e-6)
    np.testing.assert_allclose(seen[0]["app_distilled_top_node_probs"], expected_probs, rtol=1e-6)
    # the app's home screen, no events: the customer's profile only
    seen.clear()
    home = recommender.recommend(customer_id=CUSTOMER, k=2)
    assert home["mode"] == "customer" and online.pushes == []
    assert all(row.get(name) is None for row in seen for name in LINKED_WEB_VALUES)


def test_the_default_setting_keeps_stored_linked_web_features_for_the_app(tmp_path) -> None:
    """Control for the test above: with "login" the stored linked-web features reach the row."""
    recommender, online = _recommender(tmp_path, "login")
    seen: list[dict[str, Any]] = []
    recommender._row = lambda values, product_id: seen.append(dict(values)) or {**values, "product_id": product_id}
    recommender.recommend(customer_id=CUSTOMER, k=2)
    assert seen and all(row["n_events_30d"] == 9 and row["n_linked_web_sessions"] == 2 for row in seen)


@pytest.mark.parametrize("identity_linking", ["login", "off"])
def test_customer_rows_are_the_rows_recommend_ranks_for_the_customer(tmp_path, identity_linking: str) -> None:
    """The notebook's rows (Recommender.customer_rows) and /recommend's for a customer without a live session."""
    recommender, _ = _recommender(tmp_path, identity_linking)
    candidates = list(reversed(recommender.catalogue))
    rows = recommender.customer_rows(CUSTOMER, candidates)
    seen: list[dict[str, Any]] = []
    build_row = recommender._row
    recommender._row = lambda values, product_id: seen.append(build_row(values, product_id)) or seen[-1]
    recommender.recommend(customer_id=CUSTOMER, candidates=candidates, k=len(candidates))
    assert rows == seen and [row["product_id"] for row in rows] == candidates
    linked_web = [row.get(name) for row in rows for name in LINKED_WEB_VALUES]
    assert all(value is None for value in linked_web) if identity_linking == "off" else None not in linked_web
    with pytest.raises(UnknownProducts, match="candidates not in the catalogue: 'no_such_product'"):
        recommender.customer_rows(CUSTOMER, ["no_such_product"])
