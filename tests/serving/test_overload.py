"""The served process under excess and bad input, over HTTP: load shedding and the server log.

One service with a concurrency limit of 2 per worker (one worker). Requests go over raw sockets
where the test must control when their last byte arrives or when their client hangs up; what
the service did with each is read from its Prometheus counters (`/metrics`): requests answered
200 are the computed ones, and `clickintent_requests_shed_total` counts the shed ones by reason.
Slow (a served process).
"""

from __future__ import annotations

import http.client
import json
import socket
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from clickintent.serving.process import start_service
from clickintent.settings import Settings
from serving.schemas import MAX_BODY_BYTES, MAX_EVENTS
from support.service_auth import PUSH_KEY, auth_headers, service_auth_environment
from support.serving_world import busiest_anonymous_session

pytestmark = pytest.mark.slow
CONCURRENCY = 2
# Ends the wait for the server to finish with a request (a hang guard, not a measurement).
SETTLE_S = 60.0


@pytest.fixture(scope="module")
def service(serving_world: Settings, tmp_path_factory):
    environment = {**service_auth_environment(), "CLICKINTENT_SERVING_MAX_CONCURRENCY": str(CONCURRENCY)}
    served = start_service(
        serving_world, log_path=tmp_path_factory.mktemp("logs") / "service.log", timeout=180, extra_environment=environment
    )
    yield served
    served.stop()


@pytest.fixture(scope="module")
def client(service):
    with httpx.Client(base_url=service.url, timeout=30.0, headers=auth_headers()) as http_client:
        yield http_client


@pytest.fixture(scope="module")
def events(serving_world: Settings) -> list[dict]:
    return busiest_anonymous_session(serving_world)


def _body(events: list[dict], k: int) -> bytes:
    return json.dumps({"events": events, "k": k}).encode("utf-8")


def _largest_body(events: list[dict]) -> bytes:
    """A request at both limits: MAX_EVENTS events whose text fills the body to MAX_BODY_BYTES,
    every page and title new to the models (the costliest request the service takes)."""
    many = [{**events[i % len(events)], "event_id": f"big_{i}", "page_path": "/", "page_title": ""} for i in range(MAX_EVENTS)]
    chars = (MAX_BODY_BYTES - len(_body(many, 5)) - 1024) // (2 * MAX_EVENTS)
    for i, event in enumerate(many):
        event["page_path"] = "/" + "/".join(f"s{i}x{j}" for j in range(chars))[: chars - 1]
        event["page_title"] = " ".join(f"t{i}w{j}" for j in range(chars))[:chars]
    body = _body(many, 5)
    assert MAX_BODY_BYTES * 0.9 < len(body) <= MAX_BODY_BYTES
    return body


def _raw(body: bytes) -> bytes:
    return (
        b"POST /recommend HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {PUSH_KEY}\r\nContent-Length: {len(body)}\r\n\r\n".encode("ascii")
        + body
    )


def _answer(sock: socket.socket) -> tuple[int, dict[str, str], dict]:
    response = http.client.HTTPResponse(sock)
    response.begin()
    payload = response.read()
    return response.status, {name.lower(): value for name, value in response.getheaders()}, json.loads(payload)


def _counts(client: httpx.Client) -> dict[str, float]:
    """/recommend answered 200 (computed), and shed requests by reason."""
    counts = {"computed": 0.0, "over_capacity": 0.0, "queue_deadline": 0.0, "client_gone": 0.0}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == "bentoml_service_request_total" and sample.labels.get("endpoint") == "/recommend":
                if sample.labels.get("http_response_code") == "200":
                    counts["computed"] += sample.value
            elif sample.name == "clickintent_requests_shed_total":
                counts[sample.labels["reason"]] += sample.value
    return counts


def test_past_its_capacity_the_service_answers_503_with_retry_after_instead_of_queueing(
    service, client: httpx.Client, events: list[dict]
) -> None:
    before = _counts(client)
    requests = [_raw(_body(events, k)) for k in range(1, 9)]
    sockets = [socket.create_connection(("127.0.0.1", service.port)) for _ in requests]
    try:
        # Every request but its last byte, then every last byte: eight complete requests reach
        # the worker together, four times its capacity.
        for sock, request in zip(sockets, requests, strict=True):
            sock.sendall(request[:-1])
        for sock, request in zip(sockets, requests, strict=True):
            sock.sendall(request[-1:])
        answers = [_answer(sock) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
    statuses = [status for status, _, _ in answers]
    assert set(statuses) <= {200, 503} and statuses.count(200) >= CONCURRENCY and 503 in statuses, statuses
    for status, headers, body in answers:
        if status == 503:
            assert headers["retry-after"] == "1" and "at capacity" in body["error"]
        else:
            assert [product["rank"] for product in body["products"]] == list(range(1, len(body["products"]) + 1))
    after = _counts(client)
    assert after["over_capacity"] - before["over_capacity"] == statuses.count(503)
    assert after["computed"] - before["computed"] == statuses.count(200)


def test_a_request_whose_client_hung_up_before_its_turn_is_never_computed(service, client: httpx.Client, events: list[dict]) -> None:
    before = _counts(client)
    busy = socket.create_connection(("127.0.0.1", service.port))
    abandoned = socket.create_connection(("127.0.0.1", service.port))
    try:
        # The largest request keeps the worker computing while the second arrives and its
        # client hangs up, as one that timed out would.
        busy.sendall(_raw(_largest_body(events)))
        abandoned.sendall(_raw(_body(events, 3)))
        abandoned.close()
        status, _, answer = _answer(busy)
        assert status == 200 and answer["session"]["n_events"] == MAX_EVENTS
    finally:
        busy.close()
    deadline = time.monotonic() + SETTLE_S
    after = _counts(client)
    while after["client_gone"] == before["client_gone"] and after["computed"] < before["computed"] + 2 and time.monotonic() < deadline:
        time.sleep(0.05)
        after = _counts(client)
    assert after["client_gone"] == before["client_gone"] + 1
    assert after["computed"] == before["computed"] + 1  # the busy request only


def test_a_rejected_request_is_logged_by_field_and_rule_never_by_the_value_it_carried(
    service, client: httpx.Client, events: list[dict]
) -> None:
    email, account = "jane.doe@example.com", "GB82WEST12345698765432"
    bad_event = {**events[0], "anonymous_id": f"{email} {account}", "platform": email, "device_type": f"{account}\n{email}"}
    rejected = [
        client.post("/recommend", json={"events": [bad_event], "k": account}),
        client.post("/intent", json={"events": [bad_event]}),
        # Valid ids the catalogue does not hold: rejected by the service's own check, not the schema.
        client.post("/recommend", json={"candidates": [email, account], "k": 2}),
    ]
    assert [response.status_code for response in rejected] == [400, 400, 400]
    deadline = time.monotonic() + SETTLE_S
    while service.log_path.read_text().count("rejected POST") < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    log = service.log_path.read_text()
    lines = [line for line in log.splitlines() if "rejected POST" in line]
    schema = [line for line in lines if "rejected POST /recommend (400)" in line and "k: int_parsing" in line]
    intent = [line for line in lines if "rejected POST /intent (400)" in line]
    catalogue = [line for line in lines if "rejected POST /recommend (400): candidates.0: value_error; candidates.1: value_error" in line]
    assert len(schema) == len(intent) == len(catalogue) == 1, lines
    for rule in (
        "events.0.anonymous_id: string_pattern_mismatch",
        "events.0.platform: literal_error",
        "events.0.device_type: string_pattern_mismatch",
    ):
        assert rule in schema[0] and rule in intent[0]
    assert email not in log and account not in log and "Traceback" not in log and "[ERROR]" not in log
