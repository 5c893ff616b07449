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
    n_stored = stored.get("n_linked_web_sessions")
    n_stored = int(n_stored) if isinstance(n_stored, (int, np.integer)) or (isinstance(n_stored, float) and math.isfinite(n_stored)) else 0
    if n_stored == 0:
        # The service reads the customer's web features, not this count; infer "has history" from them.
        n_stored = 1 if stored.get("web_embedding") is not None or stored.get("web_distilled_top_node_probs") is not None else 0
    probs = recency_update(
        stored.get("web_distilled_top_node_probs"),
        stored_at.get("web_distilled_top_node_probs"),
        n_stored,
        np.asarray(session_top_node_probs, dtype=np.float64),
        session_end,
        half_life_days,
    )
    embedding = recency_update(
        stored.get("web_embedding"),
        stored_at.get("web_embedding"),
        n_stored,
        np.asarray(session_embedding, dtype=np.float64),
        session_end,
        half_life_days,
    )
    n_linked = n_stored + 1
    intent_labels = {
        "customer_id": customer_id,
        "as_of_ts": session_end,
        "latest_web_session_id": session_id,
        "n_linked_web_sessions": n_linked,
        "web_distilled_top_node_id": session_top_node_id,
        "web_distilled_top_node_probs": probs.astype(np.float32).tolist(),
        "web_teacher_top_node_id": stored.get("web_teacher_top_node_id"),
        "web_teacher_top_node_dist": stored.get("web_teacher_top_node_dist"),
    }
    embedding_row = {
        "customer_id": customer_id,
        "as_of_ts": session_end,
        "web_embedding": embedding.astype(np.float32).tolist(),
        "n_linked_web_sessions": n_linked,
        "latest_web_session_id": session_id,
    }
    return LoginRows(intent_labels=intent_labels, embedding=embedding_row, n_linked_web_sessions=n_linked)
