"""A web session that logs in: the rows pushed so the customer's next /recommend uses the session.

Login is the only link between a web visitor and a customer (docs/design.md, "Login link"). The batch stages
turn linked sessions into two customer-level views (clickintent.features.model_outputs): the
recency-weighted mean (half-life 14 days) of the sessions' distilled top-node probabilities
(`customer_web_intent_labels`) and of their embeddings (`customer_web_embedding`). Online, the
stored row is updated with the new session the same way, recursively:

    new = (stored * w + session) / (w + 1),   w = n_stored * 0.5 ** (age of stored row / half-life)

The store keeps the mean and the session count but not the exact decayed weight of the
sessions behind it; `n_stored * decay` is its upper bound (it treats every earlier session as
if it ended when the latest did), so the pushed value leans slightly towards history. The next
batch run recomputes every row exactly. Teacher labels have no online counterpart: the stored
ones are carried over unchanged (they describe the sessions the teacher saw).

In the identity-free mode (settings.identity_linking = "off", CLICKINTENT_IDENTITY_LINKING) a
web login links nothing: no row is pushed, and the answer's `login_push` is `disabled_push`,
which says so and names no customer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from clickintent.features.model_outputs import RECENCY_HALF_LIFE_DAYS

# Why a web login pushed nothing in the identity-free mode (the answer's login_push.reason).
LINKING_DISABLED_REASON = (
    "identity_linking is 'off' (CLICKINTENT_IDENTITY_LINKING): a web session is never linked to a customer, so this login "
    "pushed nothing and the session was answered as an anonymous one"
)


def disabled_push(session_id: str) -> dict[str, Any]:
    """The answer's login_push block when identity linking is off: nothing written, no customer named."""
    return {"status": "disabled", "customer_id": None, "session_id": session_id, "feature_views": [], "reason": LINKING_DISABLED_REASON}


@dataclass(frozen=True)
class LoginRows:
    """One row per push source, in the column names of its batch source."""

    intent_labels: dict[str, Any]
    embedding: dict[str, Any]
    n_linked_web_sessions: int


def _vector(value: Any, length: int) -> np.ndarray | None:
    if value is None:
        return None
    array = np.asarray(value, dtype=np.float64)
    return array if array.shape == (length,) and np.isfinite(array).all() else None


def recency_update(
    stored: Any, stored_at: datetime | None, n_stored: int, session: np.ndarray, session_end: datetime, half_life_days: float
) -> np.ndarray:
    """The recursive recency-weighted mean after one more session (see the module docstring)."""
    previous = _vector(stored, len(session))
    if previous is None or n_stored <= 0 or stored_at is None:
        return np.asarray(session, dtype=np.float64)
    age_days = max((session_end - stored_at).total_seconds(), 0.0) / 86_400.0
    weight = n_stored * 0.5 ** (age_days / half_life_days)
    return (previous * weight + session) / (weight + 1.0)


@dataclass(frozen=True)
class SessionVectors:
    """The names of one recency-weighted (embedding, top-node probabilities, session count) triple."""

    embedding: str
    top_node_probs: str
    count: str


# The customer's linked web sessions (customer_web_embedding, customer_web_intent_labels: pushed on login).
WEB_VECTORS = SessionVectors("web_embedding", "web_distilled_top_node_probs", "n_linked_web_sessions")
# The visitor's journey (visitor_journey_embedding) and the customer's in-app intent
# (customer_app_embedding): both computed by features.model_outputs._journey_means in batch.
JOURNEY_VECTORS = SessionVectors("journey_embedding", "journey_distilled_top_node_probs", "n_journey_sessions")
APP_VECTORS = SessionVectors("app_embedding", "app_distilled_top_node_probs", "n_app_sessions")


def _session_count(value: Any) -> int:
    """A stored session count; a missing or non-finite one is no history."""
    if isinstance(value, (int, np.integer)) or (isinstance(value, float) and math.isfinite(value)):
        return int(value)
    return 0


def vectors_with_session(
    names: SessionVectors,
    stored: Mapping[str, Any],
    stored_at: Mapping[str, datetime | None],
    session_embedding: Sequence[float],
    session_top_node_probs: Sequence[float],
    session_end: datetime,
    half_life_days: float = RECENCY_HALF_LIFE_DAYS,
) -> dict[str, Any]:
    """The stored vectors `names` with one more session, as the batch stage would write them at the
    session's end: both vectors by `recency_update` (float32 lists, as stored) and the count plus one.

    The stored count weighs the stored vectors, so every read that merges a session reads it too
    (online.PUSHED_VIEWS and LIVE_MERGED_VIEWS are read whole; a visitor's journey is read whole).
    """
    n_stored = _session_count(stored.get(names.count))
    merged: dict[str, Any] = {}
    for name, live in ((names.embedding, session_embedding), (names.top_node_probs, session_top_node_probs)):
        vector = recency_update(
            stored.get(name), stored_at.get(name), n_stored, np.asarray(live, dtype=np.float64), session_end, half_life_days
        )
        merged[name] = vector.astype(np.float32).tolist()
    merged[names.count] = n_stored + 1
    return merged


def login_rows(
    *,
    customer_id: str,
    session_id: str,
    session_end: datetime,
    session_embedding: Sequence[float],
    session_top_node_id: str,
    session_top_node_probs: Sequence[float],
    stored: Mapping[str, Any],
    stored_at: Mapping[str, datetime | None],
    half_life_days: float = RECENCY_HALF_LIFE_DAYS,
) -> LoginRows:
    """Rows for both push sources from the session and the customer's stored online values.

    `stored` holds the customer's current online values by feature name (missing or None for a
    customer without linked web sessions) and `stored_at` their timestamps.
    """
    merged = vectors_with_session(WEB_VECTORS, stored, stored_at, session_embedding, session_top_node_probs, session_end, half_life_days)
    n_linked = merged[WEB_VECTORS.count]
    intent_labels = {
        "customer_id": customer_id,
        "as_of_ts": session_end,
        "latest_web_session_id": session_id,
        "n_linked_web_sessions": n_linked,
        "web_distilled_top_node_id": session_top_node_id,
        "web_distilled_top_node_probs": merged[WEB_VECTORS.top_node_probs],
        "web_teacher_top_node_id": stored.get("web_teacher_top_node_id"),
        "web_teacher_top_node_dist": stored.get("web_teacher_top_node_dist"),
    }
    embedding_row = {
        "customer_id": customer_id,
        "as_of_ts": session_end,
        "web_embedding": merged[WEB_VECTORS.embedding],
        "n_linked_web_sessions": n_linked,
        "latest_web_session_id": session_id,
    }
    return LoginRows(intent_labels=intent_labels, embedding=embedding_row, n_linked_web_sessions=n_linked)
