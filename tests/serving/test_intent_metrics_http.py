"""The live intent mix and the low-confidence share on BentoML's /metrics, over HTTP: the served
process labels live sessions and its Prometheus series count them by level-1 node."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from clickintent.serving.process import start_service
from clickintent.settings import Settings
from support.service_auth import auth_headers, service_auth_environment
from support.serving_world import busiest_anonymous_session

pytestmark = pytest.mark.slow
LABELLED = "clickintent_live_sessions_labelled_total"
LOW = "clickintent_live_sessions_low_confidence_total"


def _series(client: httpx.Client) -> dict[str, dict[tuple, float]]:
    found: dict[str, dict[tuple, float]] = {LABELLED: {}, LOW: {}}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name in found:
                found[sample.name][tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_labelled_live_sessions_appear_as_the_intent_mix_series(serving_world: Settings, tmp_path) -> None:
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
            series = _series(client)
    finally:
        served.stop()
    intent = answers[0]
    key = tuple(sorted({"top_node_id": intent["top_node_id"], "taxonomy_version": intent["taxonomy_version"]}.items()))
    assert series[LABELLED].get(key) == 4.0  # three /intent answers and one /recommend with the session
    assert sum(series[LABELLED].values()) == 4.0
    low = sum(series[LOW].values())
    assert low == (4.0 if intent["confidence"] < 0.5 else 0.0)
