"""A signed-in app session joins the customer's in-app features (customer_app_embedding), not the
linked-web slot; it is never pushed (the batch pipeline writes the in-app rows).

`Recommender.recommend` runs for real on stand-in models and a recording online store
(support.stand_in_recommender); the rows handed to the ranker are observed directly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from clickintent.serving.session import event_time
from serving.schemas import EXAMPLE_EVENTS
from support.stand_in_recommender import (
    APP_VALUES,
    CUSTOMER,
    LINKED_WEB_VALUES,
    LIVE_EMBEDDING,
    LIVE_TOP_NODE_PROBS,
    expected_in_app_vectors,
)
from support.stand_in_recommender import stand_in_recommender as _recommender
from support.stand_in_recommender import validated_events as _events

APP_SCREEN = {
    **EXAMPLE_EVENTS[0],
    "platform": "app",
    "anonymous_id": "d_app",
    "customer_id": CUSTOMER,
    "event_type": "screen_view",
    "page_path": "/app/home",
}


def _recording_rows(recommender) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    recommender._row = lambda values, product_id: seen.append(dict(values)) or {**values, "product_id": product_id}
    return seen


def test_a_signed_in_app_session_joins_the_in_app_features_and_leaves_the_web_ones(tmp_path) -> None:
    recommender, online = _recommender(tmp_path, "login")
    seen = _recording_rows(recommender)
    answer = recommender.recommend(events=_events(APP_SCREEN), k=2)
    assert answer["mode"] == "customer" and answer["customer_id"] == CUSTOMER and online.pushes == []
    assert seen
    for row in seen:
        # the stored linked-web values reach the row unchanged: the app session is not put in their slot
        assert {name: row[name] for name in LINKED_WEB_VALUES} == LINKED_WEB_VALUES
        assert row["n_app_sessions"] == APP_VALUES["n_app_sessions"] + 1
    expected_embedding, expected_probs = expected_in_app_vectors(event_time(APP_SCREEN["event_ts"]))
    np.testing.assert_allclose(seen[0]["app_embedding"], expected_embedding, rtol=1e-6)
    np.testing.assert_allclose(seen[0]["app_distilled_top_node_probs"], expected_probs, rtol=1e-6)
    assert {"customer_app_embedding", "customer_web_embedding", "live_session"} <= set(answer["features_used"])


def test_an_app_session_the_stored_row_already_includes_is_not_added_again(tmp_path) -> None:
    """The batch row is as of the session's end (or later): it has the session already."""
    recommender, online = _recommender(tmp_path, "login")
    original, session_end = online.customer, event_time(APP_SCREEN["event_ts"])

    def stored_at_the_session_end(customer_id):
        row = original(customer_id)
        row.timestamps = {name: (session_end if name in APP_VALUES else stamp) for name, stamp in row.timestamps.items()}
        return row

    online.customer = stored_at_the_session_end
    seen = _recording_rows(recommender)
    recommender.recommend(events=_events(APP_SCREEN), k=2)
    assert seen and all(row[name] == value for row in seen for name, value in APP_VALUES.items())


def test_an_app_session_without_a_stored_in_app_row_is_the_session_alone(tmp_path) -> None:
    recommender, online = _recommender(tmp_path, "login")
    original = online.customer

    def without_app_rows(customer_id):
        row = original(customer_id)
        for name in APP_VALUES:
            row.values[name], row.timestamps[name] = None, None
        return row

    online.customer = without_app_rows
    seen = _recording_rows(recommender)
    recommender.recommend(events=_events(APP_SCREEN), k=2)
    assert seen and all(row["n_app_sessions"] == 1 for row in seen)
    np.testing.assert_allclose(seen[0]["app_embedding"], LIVE_EMBEDDING)
    np.testing.assert_allclose(seen[0]["app_distilled_top_node_probs"], LIVE_TOP_NODE_PROBS)
