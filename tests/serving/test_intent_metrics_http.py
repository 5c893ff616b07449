"""The live intent mix and the low-confidence share on BentoML's /metrics, over HTTP: the served
process labels each request's live events and its Prometheus series count them by level-1 node;
a request naming only a stored session is not counted."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from clickintent.serving.intent_metrics import LABELLED_REQUESTS, LOW_CONFIDENCE_REQUESTS
from clickintent.serving.process import start_service
from clickintent.settings import Settings
from clickintent.taxonomy.drift import LOW_CONFIDENCE
from support.service_auth import auth_headers, service_auth_environment
from support.serving_world import busiest_anonymous_session, pick

pytestmark = pytest.mark.slow
LABELLED = f"{LABELLED_REQUESTS}_total"
LOW = f"{LOW_CONFIDENCE_REQUESTS}_total"


def _series(client: httpx.Client) -> dict[str, dict[tuple, float]]:
    found: dict[str, dict[tuple, float]] = {LABELLED: {}, LOW: {}}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name in found:
                found[sample.name][tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_requests_labelled_from_live_events_appear_as_the_intent_mix_series(serving_world: Settings, tmp_path) -> None:
    stored_session_id = pick(
        "select session_id from read_parquet(?) where platform = 'web' order by session_end_ts desc, session_id limit 1",
        [str(serving_world.data_dir / "features" / "session_intent.parquet")],
    )[0]
    served = start_service(serving_world, log_path=tmp_path / "service.log", timeout=180, extra_environment=service_auth_environment())
    try:
        with httpx.Client(base_url=served.url, timeout=30.0, headers=auth_headers()) as client:
            events = busiest_anonymous_session(serving_world)
            answers = []
            for _ in range(3):
                response = client.post("/intent", json={"events": events})
                assert response.status_code == 200, response.text
                answers.append(response.json()["intent"])
            recommended = client.post("/recommend", json={"events": events, "k": 3})
            assert recommended.status_code == 200, recommended.text
            # The stored session's batch intent is answered, and not counted as a live one.
            stored = client.post("/recommend", json={"session_id": stored_session_id, "k": 3})
            assert stored.status_code == 200 and stored.json()["intent"] is not None, stored.text
            series = _series(client)
    finally:
        served.stop()
    intent = answers[0]
    key = tuple(sorted({"top_node_id": intent["top_node_id"], "taxonomy_version": intent["taxonomy_version"]}.items()))
    assert series[LABELLED].get(key) == 4.0  # three /intent answers and one /recommend with the events
    assert sum(series[LABELLED].values()) == 4.0
    low = sum(series[LOW].values())
    assert low == (4.0 if intent["confidence"] < LOW_CONFIDENCE else 0.0)
