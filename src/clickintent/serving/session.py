"""A live session through the encoder and the distilled classifier, once per request.

The input is the contract's raw events as dicts (the service hands over its validated request
models). Both models read the events directly: the encoder orders them by (event_ts,
event_id) and keeps the latest `max_len`; the classifier's features do not depend on order.
Pages the encoder never saw in training get its out-of-vocabulary tokens (hash buckets trained
for rare pages, taxonomy node from the URL-section fallback) and are counted here, so a client
can tell a session of unknown pages from a confident one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from clickintent.encoder.model import N_RESERVED
from clickintent.privacy.redaction import redact_event
from clickintent.taxonomy.classifier import IntentClassifier, IntentPrediction


@dataclass(frozen=True)
class LiveSession:
    """What the service knows about the live session after reading its events."""

    session_id: str
    platform: str | None
    n_events: int
    n_encoded: int
    unknown_pages: int
    embedding: np.ndarray | None
    intent: IntentPrediction | None
    # The customer a login event in this session names (web sessions that sign in), if any.
    login_customer_id: str | None
    # The customer id the events carry (set from a login on, per the contract), if any.
    event_customer_id: str | None
    end_ts: datetime | None


def event_time(value: Any) -> datetime:
    """An event_ts (datetime, naive = UTC, or ISO 8601 text) as an aware UTC datetime."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def live_session_id(events: Sequence[Mapping[str, Any]]) -> str:
    """A stable id for a live session the client did not name: visitor, platform and first event.

    Stable across the growing event lists a client re-sends during one session, so a login
    is pushed once; prefixed so it can never collide with a batch session id.
    """
    first = min(events, key=lambda event: (event_time(event["event_ts"]), str(event["event_id"])))
    key = f"{first['anonymous_id']}|{first['platform']}|{event_time(first['event_ts']).isoformat()}|{first['event_id']}"
    return "live_" + hashlib.blake2b(key.encode("utf-8"), digest_size=10).hexdigest()


def login_customer(events: Sequence[Mapping[str, Any]]) -> str | None:
    """The customer a web session signs in as: the customer id carried by its login event."""
    for event in events:
        if event.get("event_type") == "login" and event.get("platform") == "web" and event.get("customer_id"):
            return str(event["customer_id"])
    return None


class SessionModels:
    """The encoder and the classifier, loaded once, applied to one live session."""

    def __init__(self, embedder: Any, classifier: IntentClassifier):
        self.embedder = embedder
        self.classifier = classifier
        self.max_len = embedder.model.config.max_len
        self._vocabulary = embedder.vocabulary
        self._first_known_page_id = N_RESERVED + embedder.vocabulary.n_oov_buckets

    @property
    def embedding_dim(self) -> int:
        return int(self.embedder.dim)

    def unknown_pages(self, events: Sequence[Mapping[str, Any]]) -> int:
        page_tokens = self._vocabulary.page_tokens
        return sum(1 for event in events if page_tokens(event["page_path"])[0] < self._first_known_page_id)

    def read(
        self,
        events: Sequence[Mapping[str, Any]],
        session_id: str | None = None,
        *,
        embed: bool = True,
        label: bool = True,
        redacted: bool = False,
    ) -> LiveSession:
        """The session through the encoder and the classifier; `redacted`: the caller has already
        passed the events through privacy.redaction.redact_event (the Recommender does, once)."""
        if not events:
            return LiveSession(
                session_id=session_id or "",
                platform=None,
                n_events=0,
                n_encoded=0,
                unknown_pages=0,
                embedding=None,
                intent=None,
                login_customer_id=None,
                event_customer_id=None,
                end_ts=None,
            )
        # Paths, referrers and queries as the marts hold them (stg_events redacts them), so that
        # the page map, the classifier and the encoder see what they were trained on.
        if not redacted:
            events = [redact_event(event) for event in events]
        embedding = self.embedder.embed_events(events) if embed else None
        intent = self.classifier.predict_events(events) if label else None
        return LiveSession(
            session_id=session_id or live_session_id(events),
            platform=str(events[0]["platform"]),
            n_events=len(events),
            n_encoded=min(len(events), self.max_len),
            unknown_pages=self.unknown_pages(events),
            embedding=embedding,
            intent=intent,
            login_customer_id=login_customer(events),
            event_customer_id=next((str(event["customer_id"]) for event in events if event.get("customer_id")), None),
            end_ts=max(event_time(event["event_ts"]) for event in events),
        )


def intent_labels(prediction: IntentPrediction, names: Mapping[str, str]) -> dict[str, Any]:
    """The response's intent block: decoded labels and every top node's probability, best first."""
    order = np.argsort(-np.asarray(prediction.top_node_probs), kind="stable")
    return {
        "node_id": prediction.node_id,
        "node_name": prediction.node_name,
        "top_node_id": prediction.top_node_id,
        "top_node_name": prediction.top_node_name,
        "confidence": float(prediction.confidence),
        "top_nodes": [
            {
                "node_id": prediction.top_node_ids[index],
                "node_name": names.get(prediction.top_node_ids[index], prediction.top_node_ids[index]),
                "probability": float(prediction.top_node_probs[index]),
            }
            for index in order
        ],
        "taxonomy_version": prediction.taxonomy_version,
    }
