"""Prometheus series of the live intent mix, on BentoML's `/metrics`.

Every live session the service labels (POST /intent, and POST /recommend with a session) counts
once in `clickintent_live_sessions_labelled_total{top_node_id, taxonomy_version}`, and once more
in `clickintent_live_sessions_low_confidence_total{taxonomy_version}` when the classifier's
confidence is under the drift report's LOW_CONFIDENCE. The live mix is the rate of each top node
over the rate of all; the low-confidence share is the ratio of the two counters:

    sum by (top_node_id) (rate(clickintent_live_sessions_labelled_total[1h]))
      / ignoring(top_node_id) group_left sum(rate(clickintent_live_sessions_labelled_total[1h]))
    sum(rate(clickintent_live_sessions_low_confidence_total[1h])) / sum(rate(clickintent_live_sessions_labelled_total[1h]))

Counters (not gauges) because BentoML runs prometheus_client in multiprocess mode, where counters
of several workers add up as they should. Label values are node ids of the served taxonomy (a
bounded set), never anything a caller sent.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from clickintent.taxonomy.drift import LOW_CONFIDENCE


@functools.cache
def _counters():
    """Created on first use: BentoML points prometheus_client at its multiprocess directory only once a worker runs."""
    from prometheus_client import Counter

    labelled = Counter(
        "clickintent_live_sessions_labelled",
        "Live sessions labelled by the intent classifier, by level-1 taxonomy node (the live intent mix).",
        ["top_node_id", "taxonomy_version"],
    )
    low = Counter(
        "clickintent_live_sessions_low_confidence",
        f"Live sessions labelled with confidence under {LOW_CONFIDENCE} (share: over clickintent_live_sessions_labelled_total).",
        ["taxonomy_version"],
    )
    return labelled, low


def observe_intent(intent: Mapping[str, Any] | None) -> None:
    """Count one labelled live session (an IntentLabels-shaped mapping; None: no session, nothing counted)."""
    if not intent:
        return
    labelled, low = _counters()
    version = str(intent.get("taxonomy_version", ""))
    labelled.labels(top_node_id=str(intent["top_node_id"]), taxonomy_version=version).inc()
    if float(intent["confidence"]) < LOW_CONFIDENCE:
        low.labels(taxonomy_version=version).inc()
