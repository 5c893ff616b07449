"""Node levels that disagree with their parent links are derived from the links, logged, and not
sent back to the model; what the links cannot settle is still retried."""

from __future__ import annotations

import json
import logging

import pytest

from clickintent.taxonomy.llm import LLMOutputError, StructuredLLM
from clickintent.taxonomy.schemas import TAXONOMY_SCHEMA, TAXONOMY_SCHEMA_NAME, repair_taxonomy_levels, validate_taxonomy
from support.openai_stub_server import OpenAIStubServer, StubReply


def node(node_id: str, parent_id: str | None, level: int) -> dict:
    return {"id": node_id, "parent_id": parent_id, "level": level, "name": node_id, "description": f"About {node_id}."}


SLIPPED = {
    "nodes": [
        node("home", None, 2),  # no parent, marked level 2
        node("home.mortgage", "home", 1),  # a parent, marked level 1
        node("home.mortgage.rates", "home.mortgage", 1),
        node("fraud", None, 1),
    ]
}


def test_levels_follow_the_parent_links_and_each_repair_is_named() -> None:
    repaired, repairs = repair_taxonomy_levels(SLIPPED)
    assert [n["level"] for n in repaired["nodes"]] == [1, 2, 3, 1]
    assert validate_taxonomy(repaired) == []
    assert len(repairs) == 3 and "'home.mortgage': level 1 -> 2" in repairs[1]
    assert SLIPPED["nodes"][0]["level"] == 2  # the input is not changed in place


@pytest.mark.parametrize(
    "nodes",
    [
        [node("a", "missing", 2)],  # an unknown parent: where it goes is a guess
        [node("a", "b", 2), node("b", "a", 2)],  # a cycle
        [node("a", None, 1), node("b", "a", 2), node("c", "b", 3), node("d", "c", 3)],  # four levels deep
    ],
)
def test_what_the_links_do_not_settle_is_left_for_validation(nodes: list[dict]) -> None:
    payload = {"nodes": nodes}
    repaired, repairs = repair_taxonomy_levels(payload)
    assert repaired is payload and repairs == []
    assert validate_taxonomy(payload)


def _client(stub: OpenAIStubServer, tmp_path) -> StructuredLLM:
    return StructuredLLM(
        base_url=stub.base_url, model="stub-model", api_key="k", cache_dir=tmp_path / "cache", max_output_attempts=3, backoff_base_s=0.001
    )


def test_a_slipped_answer_over_http_is_repaired_without_asking_again(tmp_path, caplog) -> None:
    with OpenAIStubServer() as stub:
        stub.enqueue(StubReply.json(SLIPPED))
        client = _client(stub, tmp_path)
        with caplog.at_level(logging.WARNING, logger="clickintent.taxonomy.llm"):
            answer = client.complete(
                "system", "user", TAXONOMY_SCHEMA_NAME, TAXONOMY_SCHEMA, validate_taxonomy, repair=repair_taxonomy_levels
            )
        assert [n["level"] for n in answer["nodes"]] == [1, 2, 3, 1]
        assert len(stub.chat_requests) == 1 and client.usage.output_retries == 0
        assert "repaired" in caplog.text and "'home.mortgage': level 1 -> 2" in caplog.text


def test_an_unrepairable_answer_is_still_sent_back_and_three_fail(tmp_path) -> None:
    unknown_parent = {"nodes": [node("a", None, 1), node("b", "nowhere", 2)]}
    with OpenAIStubServer() as stub:
        stub.enqueue(*[StubReply.json(unknown_parent)] * 3)
        client = _client(stub, tmp_path)
        with pytest.raises(LLMOutputError):
            client.complete("system", "user", TAXONOMY_SCHEMA_NAME, TAXONOMY_SCHEMA, validate_taxonomy, repair=repair_taxonomy_levels)
        assert len(stub.chat_requests) == 3
        assert "nowhere" in json.dumps(stub.chat_requests[1].body)
