"""A `Recommender` on stand-in models and a recording online store: no server, no Feast, no trained model.

`Recommender.recommend` runs for real; what it reads from and pushes to the online store is
observed directly. Shared by the in-process service tests (identity-free mode, push rules).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import numpy as np

from clickintent.features.model_outputs import RECENCY_HALF_LIFE_DAYS
from clickintent.serving.live_features import PageTaxonomy
from clickintent.serving.online import CustomerRow
from clickintent.serving.recommender import Recommender
from clickintent.serving.session import LiveSession, event_time, live_session_id, login_customer
from clickintent.settings import load_settings
from clickintent.taxonomy.classifier import IntentPrediction
from serving.schemas import EXAMPLE_EVENTS, EXAMPLE_LOGIN_EVENT, LiveEvent
from support.service_auth import ASSERTION_KEY

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
# The customer's own app sessions (customer_app_embedding): the app's sign-in, no web link.
APP_VALUES = {"app_embedding": [0.0, 1.0], "app_distilled_top_node_probs": [0.3, 0.7], "n_app_sessions": 3}
# What the stand-in session models give every live session.
LIVE_EMBEDDING = (1.0, 0.0)
LIVE_TOP_NODE_PROBS = (0.8, 0.2)


class RecordingOnline:
    """The online store's interface, recording every customer read and push."""

    customer_refs = [
        "customer_profile:segment",
        "customer_web_intent:n_events_30d",
        "customer_web_intent_labels:web_distilled_top_node_probs",
        "customer_web_intent_labels:web_distilled_top_node_id",
        "customer_web_intent_labels:n_linked_web_sessions",
        "customer_web_embedding:web_embedding",
        "customer_app_embedding:app_embedding",
        "customer_app_embedding:app_distilled_top_node_probs",
        "customer_app_embedding:n_app_sessions",
    ]
    batch_customer_features = ["segment", "n_events_30d", *APP_VALUES]
    registered_feature_services = {"ranker_test"}

    def __init__(self, known: bool = True) -> None:
        self.known = known
        self.reads: list[str] = []
        self.pushes: list[tuple[str, dict[str, Any]]] = []

    def customer(self, customer_id: str) -> CustomerRow:
        self.reads.append(customer_id)
        values = {"segment": "mass", **LINKED_WEB_VALUES, **APP_VALUES}
        if not self.known:  # nothing in the store for this id: every feature missing
            return CustomerRow(customer_id=customer_id, known=False, values=dict.fromkeys(values), timestamps=dict.fromkeys(values))
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

    def read(self, events, session_id=None, *, embed=True, label=True, redacted=False) -> LiveSession:  # noqa: ARG002 - SessionModels.read's signature
        if not events:
            return LiveSession(session_id or "", None, 0, 0, 0, None, None, None, None, None)
        intent = IntentPrediction(
            node_id="mortgage_loan",
            node_name="Mortgage loan",
            top_node_id="mortgage_loan",
            top_node_name="Mortgage loan",
            confidence=0.8,
            top_node_ids=TOP_NODES,
            top_node_probs=LIVE_TOP_NODE_PROBS,
            taxonomy_version="t-test",
        )
        return LiveSession(
            session_id=session_id or live_session_id(events),
            platform=str(events[0]["platform"]),
            n_events=len(events),
            n_encoded=len(events),
            unknown_pages=0,
            embedding=np.asarray(LIVE_EMBEDDING),
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


class StandInAnonymous:
    """The anonymous ranker's interface: every family equally likely, shares by catalogue order."""

    version = "a-test"
    layout = SimpleNamespace(vectors=[])
    families = ["home", "deposits"]
    family_prior = {"home": 0.2, "deposits": 0.1}

    def product_share(self, product_id: str, family: str) -> float:  # noqa: ARG002 - AnonymousRanker's signature
        return 1.0

    def score_families(self, values) -> dict[str, float]:  # noqa: ARG002 - AnonymousRanker's signature
        return {"home": 0.6, "deposits": 0.3}

    def prior_products(self, product_families) -> dict[str, float]:
        return {product_id: self.family_prior.get(family, 0.0) for product_id, family in product_families.items()}

    def reasons(self, values, family, top_k=3) -> list:  # noqa: ARG002 - AnonymousRanker's signature
        return []


def stand_in_recommender(tmp_path, identity_linking: str = "login", *, known: bool = True) -> tuple[Recommender, RecordingOnline]:
    settings = load_settings(
        environ={}, data_dir=tmp_path / identity_linking, identity_linking=identity_linking, login_assertion_key=ASSERTION_KEY
    )
    online = RecordingOnline(known=known)
    recommender = Recommender(
        settings=settings,
        session_models=StandInSessionModels(),
        ranker=StandInRanker(),
        conversion=None,
        anonymous=StandInAnonymous(),
        online=online,
        cards={"encoder": SimpleNamespace(version="e-test"), "intent_classifier": SimpleNamespace(version="c-test")},
        products={"mtg_refinance": {"product_family": "home"}, "sav_high_yield": {"product_family": "deposits"}},
        products_source="test",
    )
    recommender.page_taxonomy = PageTaxonomy(top_node_of_page={"/mortgages/refinance": "mortgage_loan"}, top_node_order=TOP_NODES)
    return recommender, online


def expected_in_app_vectors(session_end: datetime) -> tuple[np.ndarray, np.ndarray]:
    """The customer's in-app embedding and top-node probabilities once a live app session ending at
    `session_end` joins APP_VALUES, by hand: the recursive recency-weighted mean, where the stored
    mean weighs its sessions' count decayed by its age and the live session 1."""
    age_days = (session_end - STORED_AT) / timedelta(days=1)
    weight = APP_VALUES["n_app_sessions"] * 0.5 ** (age_days / RECENCY_HALF_LIFE_DAYS)
    embedding = (np.asarray(APP_VALUES["app_embedding"]) * weight + np.asarray(LIVE_EMBEDDING)) / (weight + 1)
    probs = (np.asarray(APP_VALUES["app_distilled_top_node_probs"]) * weight + np.asarray(LIVE_TOP_NODE_PROBS)) / (weight + 1)
    return embedding, probs


def validated_events(*events: dict) -> list[dict]:
    """As the service hands them over: validated, then dumped."""
    return [LiveEvent(**event).model_dump() for event in events]


WEB_LOGIN = (*EXAMPLE_EVENTS, EXAMPLE_LOGIN_EVENT)
