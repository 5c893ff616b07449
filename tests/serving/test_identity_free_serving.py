"""Identity-free mode in the service: a web login writes nothing keyed by the customer.

`Recommender.recommend` runs for real on stand-in models and a recording online store (no
server, no Feast, no trained model): what is read and pushed is observed directly. The same
requests with the default setting push the login, so the tests would see a push if the mode
let one through.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from clickintent.serving.live_features import PageTaxonomy
from clickintent.serving.login import LINKING_DISABLED_REASON
from clickintent.serving.online import EMBEDDING_PUSH_SOURCE, INTENT_LABELS_PUSH_SOURCE, CustomerRow
from clickintent.serving.recommender import Recommender
from clickintent.serving.session import LiveSession, event_time, live_session_id, login_customer
from clickintent.settings import load_settings
from clickintent.taxonomy.classifier import IntentPrediction
from serving.schemas import EXAMPLE_EVENTS, EXAMPLE_LOGIN_EVENT, LiveEvent, RecommendResponse

TOP_NODES = ("mortgage_loan", "savings")
CUSTOMER = EXAMPLE_LOGIN_EVENT["customer_id"]
STORED_AT = datetime(2026, 2, 1, tzinfo=UTC)
# Linked-web features an online store materialized by a build with links would hold.
LINKED_WEB_VALUES = {
    "web_embedding": [0.5, 0.5],
    "web_distilled_top_node_probs": [0.6, 0.4],
    "web_distilled_top_node_id": "mortgage_loan",
    "n_linked_web_sessions": 2,
    "n_events_30d": 9,
}


class RecordingOnline:
    """The online store's interface, recording every customer read and push."""

    customer_refs = [
        "customer_profile:segment",
        "customer_web_intent:n_events_30d",
        "customer_web_intent_labels:web_distilled_top_node_probs",
        "customer_web_intent_labels:web_distilled_top_node_id",
        "customer_web_intent_labels:n_linked_web_sessions",
        "customer_web_embedding:web_embedding",
    ]
    batch_customer_features = ["segment", "n_events_30d"]
    registered_feature_services = {"ranker_test"}

    def __init__(self) -> None:
        self.reads: list[str] = []
        self.pushes: list[tuple[str, dict[str, Any]]] = []

    def customer(self, customer_id: str) -> CustomerRow:
        self.reads.append(customer_id)
        values = {"segment": "mass", **LINKED_WEB_VALUES}
        return CustomerRow(customer_id=customer_id, known=True, values=values, timestamps=dict.fromkeys(values, STORED_AT))

    def push(self, source: str, row: dict[str, Any]) -> None:
        self.pushes.append((source, row))

    def session(self, session_id: str) -> None:  # noqa: ARG002 - the store's signature
        return None

    def close(self) -> None:
        pass


class StandInSessionModels:
    """SessionModels' `read` with a fixed embedding and intent, the rest from the real helpers."""

    classifier = SimpleNamespace(taxonomy_version="t-test", names={}, top_node_ids=TOP_NODES)

    def read(self, events, session_id=None, *, embed=True, label=True) -> LiveSession:  # noqa: ARG002 - SessionModels.read's signature
        if not events:
            return LiveSession(session_id or "", None, 0, 0, 0, None, None, None, None, None)
        intent = IntentPrediction(
            node_id="mortgage_loan",
            node_name="Mortgage loan",
            top_node_id="mortgage_loan",
            top_node_name="Mortgage loan",
            confidence=0.8,
            top_node_ids=TOP_NODES,
            top_node_probs=(0.8, 0.2),
            taxonomy_version="t-test",
        )
        return LiveSession(
            session_id=session_id or live_session_id(events),
            platform=str(events[0]["platform"]),
            n_events=len(events),
            n_encoded=len(events),
            unknown_pages=0,
            embedding=np.asarray([1.0, 0.0]),
            intent=intent,
            login_customer_id=login_customer(events),
            event_customer_id=next((str(event["customer_id"]) for event in events if event.get("customer_id")), None),
            end_ts=max(event_time(event["event_ts"]) for event in events),
        )


class StandInRanker:
    """Scores candidates in catalogue order; no features read, no reasons."""

    version = "r-test"
    feature_service = "ranker_test"
    layout = SimpleNamespace(vectors=[])
    encoder = SimpleNamespace(columns_of=lambda _keys: [], encode_rows=lambda rows: np.zeros((len(rows), 1), np.float32))

    def matrix(self, rows, over=None) -> np.ndarray:  # noqa: ARG002 - TileRanker.matrix's signature
        return np.zeros((len(rows), 1), np.float32)

    def score_matrix(self, matrix: np.ndarray) -> np.ndarray:
        return np.linspace(0.9, 0.1, len(matrix))

    def explain_matrix(self, rows, matrix, n) -> list[list]:  # noqa: ARG002 - TileRanker.explain_matrix's signature
        return [[] for _ in rows]


def _recommender(tmp_path, identity_linking: str) -> tuple[Recommender, RecordingOnline]:
    settings = load_settings(environ={}, data_dir=tmp_path / identity_linking, identity_linking=identity_linking)
    online = RecordingOnline()
    recommender = Recommender(
        settings=settings,
        session_models=StandInSessionModels(),
        ranker=StandInRanker(),
        online=online,
        cards={"encoder": SimpleNamespace(version="e-test"), "intent_classifier": SimpleNamespace(version="c-test")},
        products={"mtg_refinance": {"product_family": "home"}, "sav_high_yield": {"product_family": "deposits"}},
        products_source="test",
    )
    recommender.page_taxonomy = PageTaxonomy(top_node_of_page={"/mortgages/refinance": "mortgage_loan"}, top_node_order=TOP_NODES)
    return recommender, online


def _events(*events: dict) -> list[dict]:
    """As the service hands them over: validated, then dumped."""
    return [LiveEvent(**event).model_dump() for event in events]


WEB_LOGIN = (*EXAMPLE_EVENTS, EXAMPLE_LOGIN_EVENT)


def test_default_setting_pushes_a_web_login_to_the_customer(tmp_path) -> None:
    """The control: with "login" the same request reads the customer and pushes two rows keyed by it."""
    recommender, online = _recommender(tmp_path, "login")
    answer = recommender.recommend(events=_events(*WEB_LOGIN), k=2)
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
    assert answer["customer_id"] is None and not answer["customer_known"] and answer["mode"] == "session_only"
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
    assert seen and all(row["segment"] == "mass" for row in seen)
    # the live app session fills the session slots; nothing stored from linked web sessions is used
    assert all(row["n_linked_web_sessions"] == 1 and row.get("n_events_30d") is None for row in seen)
    np.testing.assert_allclose(seen[0]["web_embedding"], [1.0, 0.0])
    # the app's home screen, no events: the customer's profile only
    seen.clear()
    home = recommender.recommend(customer_id=CUSTOMER, k=2)
    assert home["mode"] == "personalized" and online.pushes == []
    assert all(row.get(name) is None for row in seen for name in LINKED_WEB_VALUES)


def test_the_default_setting_keeps_stored_linked_web_features_for_the_app(tmp_path) -> None:
    """Control for the test above: with "login" the stored linked-web features reach the row."""
    recommender, online = _recommender(tmp_path, "login")
    seen: list[dict[str, Any]] = []
    recommender._row = lambda values, product_id: seen.append(dict(values)) or {**values, "product_id": product_id}
    recommender.recommend(customer_id=CUSTOMER, k=2)
    assert seen and all(row["n_events_30d"] == 9 and row["n_linked_web_sessions"] == 2 for row in seen)
