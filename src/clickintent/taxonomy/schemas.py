"""The two structured outputs TnT-LLM asks the LLM for, and their checks on our side.

Each output has three parts that agree (a test checks it):
- a JSON schema sent as `response_format` (structured outputs). It uses only keywords that OpenAI
  strict mode, vLLM, Ollama and llama.cpp all accept: type (with ["string", "null"] for optional),
  properties, required (every property), additionalProperties false, items, enum. Length limits
  and id patterns are not sent, because strict mode rejects some of them;
- a pydantic model that holds those extra limits and gives the taxonomy stage typed objects;
- a semantic validator, `(payload) -> list of problems`, for what no schema can say: node ids
  that must exist in the current taxonomy, parents that must exist, levels that must follow
  their parent. StructuredLLM sends its problems back to the model and asks again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

MAX_LEVELS = 3
# A node id is stable across taxonomy versions, so it is a slug, not a display name.
NODE_ID_PATTERN = r"^[a-z0-9][a-z0-9_.:-]{0,63}$"

Validator = Callable[[dict], list[str]]
# Mends an answer where no guess is needed: (the mended answer, what was changed).
Repair = Callable[[dict], tuple[dict, list[str]]]


# ---------------------------------------------------------------------------------------------
# taxonomy generation and update

TAXONOMY_SCHEMA_NAME = "intent_taxonomy"

TAXONOMY_SCHEMA: dict = {
    "type": "object",
    "properties": {
        "nodes": {
            "type": "array",
            "description": "Every node of the taxonomy, parents before children.",
            "items": {
                "type": "object",
                "properties": {
                    "id": {
                        "type": "string",
                        "description": "Stable lowercase slug, e.g. home_buying.research; keep the ids of unchanged nodes.",
                    },
                    "parent_id": {
                        "type": ["string", "null"],
                        "description": "Id of the parent node; null for a level-1 node.",
                    },
                    "level": {"type": "integer", "enum": [1, 2, 3], "description": "1 = need, 2 = product area, 3 = journey stage."},
                    "name": {"type": "string", "description": "Short readable name."},
                    "description": {"type": "string", "description": "One or two sentences: which sessions belong here."},
                },
                "required": ["id", "parent_id", "level", "name", "description"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["nodes"],
    "additionalProperties": False,
}


class TaxonomyNode(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=NODE_ID_PATTERN)
    parent_id: str | None
    level: Literal[1, 2, 3]
    name: str = Field(min_length=1, max_length=80)
    description: str = Field(min_length=1, max_length=500)


class TaxonomyProposal(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    nodes: list[TaxonomyNode] = Field(min_length=1)


def validate_taxonomy(payload: dict) -> list[str]:
    """Problems with a generated or updated taxonomy: field limits, duplicate ids, missing or
    wrong-level parents, more than 3 levels. Empty when it is sound."""
    try:
        proposal = TaxonomyProposal.model_validate(payload)
    except ValidationError as error:
        return _pydantic_problems(error)
    problems: list[str] = []
    levels: dict[str, int] = {}
    for node in proposal.nodes:
        if node.id in levels:
            problems.append(f"node id {node.id!r} is used more than once")
        levels[node.id] = node.level
    for node in proposal.nodes:
        if node.level == 1:
            if node.parent_id is not None:
                problems.append(f"node {node.id!r} is level 1, so its parent_id must be null (got {node.parent_id!r})")
            continue
        if node.parent_id is None:
            problems.append(f"node {node.id!r} is level {node.level} but has no parent_id")
        elif node.parent_id not in levels:
            problems.append(f"node {node.id!r} has parent_id {node.parent_id!r}, which is not a node id")
        elif levels[node.parent_id] != node.level - 1:
            problems.append(
                f"node {node.id!r} is level {node.level} but its parent {node.parent_id!r} is level "
                f"{levels[node.parent_id]} (a child is one level below its parent; at most {MAX_LEVELS} levels)"
            )
    return problems


def repair_taxonomy_levels(payload: dict, nodes_key: str = "nodes") -> tuple[dict, list[str]]:
    """The payload with each node's level derived from its parent links, and what was changed.

    A model that answers a node "level 1" with a parent, or "level 2" with none, has said where
    the node goes twice and disagreed with itself; the parent link is the structure, so the
    level follows from it (no parent: 1; else the parent's level + 1). Nothing is changed
    where the links do not settle it (an unknown parent, a cycle, a depth beyond MAX_LEVELS):
    validation then reports the problem and the model is asked again."""
    nodes = payload.get(nodes_key) if isinstance(payload, dict) else None
    if not isinstance(nodes, list) or not all(isinstance(node, dict) for node in nodes):
        return payload, []
    parent_of = {node.get("id"): node.get("parent_id") for node in nodes}
    if len(parent_of) != len(nodes):
        return payload, []
    derived: dict[object, int] = {}
    for node_id in parent_of:
        chain, current = [], node_id
        while current is not None and current not in derived:
            if current in chain or current not in parent_of or len(chain) > MAX_LEVELS:
                return payload, []
            chain.append(current)
            current = parent_of[current]
        level = 0 if current is None else derived[current]
        for link in reversed(chain):
            level += 1
            derived[link] = level
    if max(derived.values(), default=1) > MAX_LEVELS:
        return payload, []
    repairs = [
        f"node {node.get('id')!r}: level {node.get('level')!r} -> {derived[node.get('id')]} (from its parent_id {node.get('parent_id')!r})"
        for node in nodes
        if node.get("level") != derived[node.get("id")]
    ]
    if not repairs:
        return payload, []
    fixed = [{**node, "level": derived[node.get("id")]} for node in nodes]
    return {**payload, nodes_key: fixed}, repairs


# ---------------------------------------------------------------------------------------------
# session labelling

SESSION_LABEL_SCHEMA_NAME = "session_label"

SESSION_LABEL_SCHEMA: dict = {
    "type": "object",
    "properties": {
        "primary_node_id": {"type": "string", "description": "The id of the node that best describes the session's intent."},
        "node_ids": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Ids of every node that applies, the primary one included.",
        },
        "rationale": {"type": "string", "description": "One short sentence: which pages or searches show it."},
    },
    "required": ["primary_node_id", "node_ids", "rationale"],
    "additionalProperties": False,
}


class SessionLabel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    primary_node_id: str = Field(min_length=1)
    node_ids: list[str] = Field(min_length=1, max_length=20)
    rationale: str = Field(max_length=500)


def make_label_validator(node_ids: Iterable[str]) -> Validator:
    """A validator for session labels against the current taxonomy: every id must exist and
    the primary id must be among node_ids."""
    known = frozenset(node_ids)
    if not known:
        raise ValueError("make_label_validator needs the ids of the current taxonomy; got none")
    # Listed in the error so the model can correct itself; capped to keep the prompt small.
    listed = ", ".join(sorted(known)[:60]) + (" ..." if len(known) > 60 else "")

    def validate_label(payload: dict) -> list[str]:
        try:
            label = SessionLabel.model_validate(payload)
        except ValidationError as error:
            return _pydantic_problems(error)
        problems: list[str] = []
        unknown = [node_id for node_id in [label.primary_node_id, *label.node_ids] if node_id not in known]
        for node_id in dict.fromkeys(unknown):
            problems.append(f"node id {node_id!r} does not exist in the taxonomy (valid ids: {listed})")
        if label.primary_node_id not in label.node_ids:
            problems.append(f"primary_node_id {label.primary_node_id!r} must also be listed in node_ids")
        return problems

    return validate_label


def _pydantic_problems(error: ValidationError) -> list[str]:
    return [f"{'.'.join(str(part) for part in detail['loc']) or '(root)'}: {detail['msg']}" for detail in error.errors(include_url=False)]
