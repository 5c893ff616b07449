"""The intent taxonomy: a tree of at most 3 levels, kept as a readable, editable YAML file.

    format: 1
    version: 2
    backend: offline
    nodes:
      - id: mortgage_refinance            # stable across versions: downstream data joins on it
        name: Mortgage, refinance
        description: Sessions about ...
        examples: [<session ids>]
        pinned_pages: [/mortgages/refinance]   # optional: pages a reviewer fixed to this node
        children:
          - id: mortgage_refinance.heloc
            ...

Nesting gives each node its parent and level, so moving a node is moving its block. A file
that a person edited is validated on load; every problem is listed with the node's position
and id (`nodes[2].children[0] (id 'x'): ...`), and nothing downstream runs on a bad file.

The taxonomy version written into every output is `v<version>-<hash>`, where the hash covers
ids, tree shape, names, descriptions and pins (not examples). An edit therefore changes the
version even when nobody bumps the number, and unchanged content keeps it (reruns idempotent).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from clickintent.artifacts import atomic_write_text
from clickintent.taxonomy.schemas import MAX_LEVELS, NODE_ID_PATTERN

FILE_FORMAT = 1
MAX_NAME_CHARS = 80
MAX_DESCRIPTION_CHARS = 500
MAX_EXAMPLES = 10
_NODE_ID = re.compile(NODE_ID_PATTERN)
_NODE_KEYS = {"id", "name", "description", "examples", "pinned_pages", "children"}
_FILE_KEYS = {"format", "version", "backend", "created_at", "nodes"}

FILE_HEADER = """\
# clickintent intent taxonomy: a tree of at most 3 levels (need -> product area -> journey stage).
# Edit freely: rename or redescribe nodes, move a block to change a parent, add or delete nodes,
# pin pages to a node with `pinned_pages`. Keep ids of nodes whose meaning is unchanged: labels,
# page maps and features join on them. Then run `clickintent taxonomy distill`: the file is
# validated, pages are re-mapped and the classifier is re-distilled.
"""


class TaxonomyFileError(ValueError):
    """A taxonomy file that cannot be used; `problems` names each bad node and field."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        listed = "\n  ".join(problems[:30]) + (f"\n  ... and {len(problems) - 30} more" if len(problems) > 30 else "")
        super().__init__(f"invalid taxonomy {source}:\n  {listed}")


@dataclass(frozen=True)
class Node:
    id: str
    parent_id: str | None
    level: int
    name: str
    description: str
    examples: tuple[str, ...] = ()
    pinned_pages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Taxonomy:
    """Nodes in pre-order (parents before children, siblings in file order)."""

    nodes: tuple[Node, ...]
    version: int = 1
    backend: str = "offline"
    created_at: str = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0).isoformat())

    def __post_init__(self) -> None:
        problems = _structure_problems(self.nodes)
        if problems:
            raise TaxonomyFileError("(in memory)", problems)
        object.__setattr__(self, "_by_id", {node.id: node for node in self.nodes})

    # ---- lookups -------------------------------------------------------------------------

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._by_id  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return len(self.nodes)

    def node(self, node_id: str) -> Node:
        try:
            return self._by_id[node_id]  # type: ignore[attr-defined]
        except KeyError:
            raise KeyError(f"taxonomy {self.taxonomy_version} has no node {node_id!r}") from None

    @property
    def node_ids(self) -> list[str]:
        return [node.id for node in self.nodes]

    def children(self, node_id: str | None) -> list[Node]:
        return [node for node in self.nodes if node.parent_id == node_id]

    @property
    def top_nodes(self) -> list[Node]:
        """Level-1 nodes sorted by id: THE order of every top-node probability or share array
        (the same order dbt's dim_taxonomy_top_nodes uses)."""
        return sorted((node for node in self.nodes if node.level == 1), key=lambda node: node.id)

    @property
    def top_node_ids(self) -> list[str]:
        return [node.id for node in self.top_nodes]

    @property
    def leaves(self) -> list[Node]:
        parents = {node.parent_id for node in self.nodes}
        return [node for node in self.nodes if node.id not in parents]

    def ancestors(self, node_id: str) -> list[Node]:
        """From the node's parent up to its level-1 node."""
        chain: list[Node] = []
        current = self.node(node_id)
        while current.parent_id is not None:
            current = self.node(current.parent_id)
            chain.append(current)
        return chain

    def top_of(self, node_id: str) -> Node:
        chain = self.ancestors(node_id)
        return chain[-1] if chain else self.node(node_id)

    def descendants(self, node_id: str) -> list[Node]:
        found: list[Node] = []
        frontier = [node_id]
        while frontier:
            children = [node for node in self.nodes if node.parent_id in frontier]
            found.extend(children)
            frontier = [node.id for node in children]
        return found

    def nodes_per_level(self) -> dict[int, int]:
        counts = {level: 0 for level in range(1, MAX_LEVELS + 1)}
        for node in self.nodes:
            counts[node.level] += 1
        return {level: count for level, count in counts.items() if count or level == 1}

    # ---- identity ------------------------------------------------------------------------

    @property
    def content_hash(self) -> str:
        content = [[node.id, node.parent_id, node.name, node.description, sorted(node.pinned_pages)] for node in self.nodes]
        return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode("utf-8")).hexdigest()

    @property
    def taxonomy_version(self) -> str:
        return f"v{self.version}-{self.content_hash[:8]}"

    def same_content(self, other: Taxonomy | None) -> bool:
        return other is not None and self.content_hash == other.content_hash

    def with_examples(self, examples: Mapping[str, Iterable[str]]) -> Taxonomy:
        nodes = tuple(replace(node, examples=tuple(examples.get(node.id, node.examples))[:MAX_EXAMPLES]) for node in self.nodes)
        return replace(self, nodes=nodes)

    def with_version(self, version: int) -> Taxonomy:
        return replace(self, version=version)

    # ---- conversions ---------------------------------------------------------------------

    def to_proposal(self) -> dict:
        """The flat form of TAXONOMY_SCHEMA (what the LLM reads and writes)."""
        return {
            "nodes": [
                {"id": n.id, "parent_id": n.parent_id, "level": n.level, "name": n.name, "description": n.description} for n in self.nodes
            ]
        }

    @classmethod
    def from_proposal(cls, proposal: Mapping[str, Any], *, version: int = 1, backend: str = "llm") -> Taxonomy:
        """A taxonomy from the flat node list of TAXONOMY_SCHEMA (validated by validate_taxonomy).

        Re-orders into pre-order (the LLM need not list parents first)."""
        flat = list(proposal["nodes"])
        by_parent: dict[str | None, list[Mapping[str, Any]]] = {}
        for item in flat:
            by_parent.setdefault(item.get("parent_id"), []).append(item)
        ordered: list[Node] = []

        def visit(parent_id: str | None, level: int) -> None:
            for item in by_parent.get(parent_id, []):
                ordered.append(
                    Node(
                        id=str(item["id"]),
                        parent_id=parent_id,
                        level=level,
                        name=" ".join(str(item["name"]).split())[:MAX_NAME_CHARS],
                        description=" ".join(str(item["description"]).split())[:MAX_DESCRIPTION_CHARS],
                    )
                )
                visit(str(item["id"]), level + 1)

        visit(None, 1)
        if len(ordered) != len(flat):
            reachable = {node.id for node in ordered}
            lost = [str(item.get("id")) for item in flat if str(item.get("id")) not in reachable]
            raise TaxonomyFileError("(LLM proposal)", [f"node {node_id!r} is not reachable from a level-1 node" for node_id in lost])
        return cls(nodes=tuple(ordered), version=version, backend=backend)

    def to_document(self) -> dict:
        def block(node: Node) -> dict:
            entry: dict[str, Any] = {"id": node.id, "name": node.name, "description": node.description}
            entry["examples"] = list(node.examples)
            if node.pinned_pages:
                entry["pinned_pages"] = list(node.pinned_pages)
            children = self.children(node.id)
            if children:
                entry["children"] = [block(child) for child in children]
            return entry

        return {
            "format": FILE_FORMAT,
            "version": self.version,
            "backend": self.backend,
            "created_at": self.created_at,
            "nodes": [block(node) for node in self.children(None)],
        }

    def to_yaml(self) -> str:
        body = yaml.safe_dump(self.to_document(), sort_keys=False, allow_unicode=True, width=100, default_flow_style=None)
        return FILE_HEADER + f"# taxonomy_version: {self.taxonomy_version}\n" + body

    def save(self, path: Path) -> None:
        atomic_write_text(path, self.to_yaml())

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "(text)") -> Taxonomy:
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise TaxonomyFileError(source, [f"not valid YAML: {error}"]) from error
        return cls.from_document(document, source=source)

    @classmethod
    def load(cls, path: Path) -> Taxonomy:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no taxonomy at {path}: run `clickintent taxonomy generate` first")
        return cls.from_yaml(path.read_text(encoding="utf-8"), source=str(path))

    @classmethod
    def from_document(cls, document: Any, *, source: str = "(document)") -> Taxonomy:
        problems: list[str] = []
        if not isinstance(document, dict):
            raise TaxonomyFileError(source, ["the file must be a mapping with `version` and `nodes`"])
        for key in sorted(set(document) - _FILE_KEYS):
            problems.append(f"unknown top-level key {key!r} (allowed: {', '.join(sorted(_FILE_KEYS))})")
        file_format = document.get("format", FILE_FORMAT)
        if file_format != FILE_FORMAT:
            problems.append(f"format must be {FILE_FORMAT}; got {file_format!r}")
        version = document.get("version", 1)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            problems.append(f"version must be a positive integer; got {version!r}")
            version = 1
        backend = document.get("backend", "offline")
        if not isinstance(backend, str) or not backend:
            problems.append(f"backend must be a non-empty string; got {backend!r}")
            backend = "offline"
        created_at = str(document.get("created_at") or datetime.now(UTC).replace(microsecond=0).isoformat())
        blocks = document.get("nodes")
        nodes: list[Node] = []
        if not isinstance(blocks, list) or not blocks:
            problems.append("nodes must be a non-empty list of level-1 nodes")
        else:
            for index, block in enumerate(blocks):
                _read_block(block, f"nodes[{index}]", None, 1, nodes, problems)
        if not problems:
            problems.extend(_structure_problems(nodes))
        if problems:
            raise TaxonomyFileError(source, problems)
        return cls(nodes=tuple(nodes), version=version, backend=backend, created_at=created_at)


def _read_block(block: Any, where: str, parent_id: str | None, level: int, out: list[Node], problems: list[str]) -> None:
    if not isinstance(block, dict):
        problems.append(f"{where}: a node must be a mapping with id, name and description; got {type(block).__name__}")
        return
    node_id = block.get("id")
    label = f"{where} (id {node_id!r})" if node_id is not None else where
    for key in sorted(set(block) - _NODE_KEYS):
        problems.append(f"{label}: unknown field {key!r} (allowed: {', '.join(sorted(_NODE_KEYS))})")
    if not isinstance(node_id, str) or not _NODE_ID.match(node_id):
        problems.append(f"{label}: id must be a lowercase slug of letters, digits and . _ : - (at most 64 characters); got {node_id!r}")
        node_id = None
    name = block.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(f"{label}: name must be a non-empty string")
    elif len(name) > MAX_NAME_CHARS:
        problems.append(f"{label}: name is {len(name)} characters; at most {MAX_NAME_CHARS}")
    description = block.get("description")
    if not isinstance(description, str) or not description.strip():
        problems.append(f"{label}: description must be a non-empty string")
    elif len(description) > MAX_DESCRIPTION_CHARS:
        problems.append(f"{label}: description is {len(description)} characters; at most {MAX_DESCRIPTION_CHARS}")
    examples = block.get("examples") or []
    if not isinstance(examples, list) or not all(isinstance(example, str) for example in examples):
        problems.append(f"{label}: examples must be a list of session ids (strings)")
        examples = []
    pinned = block.get("pinned_pages") or []
    if not isinstance(pinned, list) or not all(isinstance(page, str) and page.startswith("/") for page in pinned):
        problems.append(f"{label}: pinned_pages must be a list of page paths starting with '/'")
        pinned = []
    children = block.get("children") or []
    if not isinstance(children, list):
        problems.append(f"{label}: children must be a list of nodes")
        children = []
    if level > MAX_LEVELS:
        problems.append(f"{label}: is at level {level}; a taxonomy has at most {MAX_LEVELS} levels")
    if node_id is not None and isinstance(name, str) and isinstance(description, str):
        out.append(
            Node(
                id=node_id,
                parent_id=parent_id,
                level=min(level, MAX_LEVELS),
                name=" ".join(name.split()),
                description=" ".join(description.split()),
                examples=tuple(examples[:MAX_EXAMPLES]),
                pinned_pages=tuple(pinned),
            )
        )
    for index, child in enumerate(children):
        _read_block(child, f"{where}.children[{index}]", node_id, level + 1, out, problems)


def _structure_problems(nodes: Iterable[Node]) -> list[str]:
    problems: list[str] = []
    seen: dict[str, Node] = {}
    pinned_by: dict[str, str] = {}
    nodes = list(nodes)
    if not nodes:
        return ["a taxonomy needs at least one node"]
    for node in nodes:
        if node.id in seen:
            problems.append(f"node id {node.id!r} is used more than once (ids must be unique)")
        seen[node.id] = node
        for page in node.pinned_pages:
            if page in pinned_by and pinned_by[page] != node.id:
                problems.append(f"page {page!r} is pinned to both {pinned_by[page]!r} and {node.id!r}")
            pinned_by[page] = node.id
    for node in nodes:
        if node.level < 1 or node.level > MAX_LEVELS:
            problems.append(f"node {node.id!r} has level {node.level}; levels are 1 to {MAX_LEVELS}")
        if node.parent_id is None:
            if node.level != 1:
                problems.append(f"node {node.id!r} has no parent but is at level {node.level}")
        elif node.parent_id not in seen:
            problems.append(f"node {node.id!r} has parent {node.parent_id!r}, which is not a node")
        elif seen[node.parent_id].level != node.level - 1:
            problems.append(f"node {node.id!r} is at level {node.level} under a level-{seen[node.parent_id].level} parent")
    return problems
