"""Prometheus series of the live intent mix, on BentoML's `/metrics`.

Every request whose own live events the service labels (POST /intent, and POST /recommend with
events) counts once in `clickintent_live_intent_requests_total{top_node_id, taxonomy_version}`,
and once more in `clickintent_live_intent_low_confidence_requests_total{taxonomy_version}` when
the classifier's confidence is under the drift report's LOW_CONFIDENCE. A /recommend naming only
a stored session (its batch intent) is not counted. The counts are per request, not per session:
a client re-sends the growing session on every page, and may ask /intent and /recommend for it,
so a session weighs as many times as it is asked about (the batch drift report counts sessions).
The live mix is the rate of each top node over the rate of all; the low-confidence share is the
ratio of the two counters:

    sum by (top_node_id) (rate(clickintent_live_intent_requests_total[1h]))
      / ignoring(top_node_id) group_left sum(rate(clickintent_live_intent_requests_total[1h]))
    sum(rate(clickintent_live_intent_low_confidence_requests_total[1h])) / sum(rate(clickintent_live_intent_requests_total[1h]))

Counters (not gauges) because BentoML runs prometheus_client in multiprocess mode, where counters
of several workers add up as they should. Label values are node ids of the served taxonomy (a
bounded set), never anything a caller sent.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from clickintent.taxonomy.drift import LOW_CONFIDENCE

LABELLED_REQUESTS = "clickintent_live_intent_requests"
LOW_CONFIDENCE_REQUESTS = "clickintent_live_intent_low_confidence_requests"


@functools.cache
def _counters():
    """Created on first use: BentoML points prometheus_client at its multiprocess directory only once a worker runs."""
    from prometheus_client import Counter

    labelled = Counter(
        LABELLED_REQUESTS,
        "Requests whose live events the intent classifier labelled, by level-1 taxonomy node (the live intent mix).",
        ["top_node_id", "taxonomy_version"],
    )
    low = Counter(
        LOW_CONFIDENCE_REQUESTS,
        f"Requests whose live events were labelled with confidence under {LOW_CONFIDENCE} (share: over {LABELLED_REQUESTS}_total).",
        ["taxonomy_version"],
    )
    return labelled, low


def observe_live_intent(intent: Mapping[str, Any] | None) -> None:
    """Count one request's intent computed from its live events (an IntentLabels-shaped mapping;
    None: nothing labelled, nothing counted). The caller passes no stored session's intent."""
    if not intent:
        return
    labelled, low = _counters()
    version = str(intent.get("taxonomy_version", ""))
    labelled.labels(top_node_id=str(intent["top_node_id"]), taxonomy_version=version).inc()
    if float(intent["confidence"]) < LOW_CONFIDENCE:
        low.labels(taxonomy_version=version).inc()
