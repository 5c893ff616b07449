"""Keep the ids of unchanged nodes when a taxonomy is regenerated.

Labels, page maps and features downstream join on node ids, so a new version must reuse the
id of every node that still means the same thing. Nodes of the new and the previous version
are matched level by level, one-to-one (Hungarian assignment), on

    similarity = 0.5 x cosine(MiniLM of name + description) + 0.5 x Jaccard(member pages)

(members of a node include its descendants' pages; without page memberships on either side,
the text similarity alone). A pair at or above `threshold` keeps the previous id; an unmatched
new node gets a fresh id, never the id of a previous node that meant something else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np
from scipy.optimize import linear_sum_assignment

from clickintent.taxonomy.embeddings import TextEmbedder
from clickintent.taxonomy.model import Node, Taxonomy

DEFAULT_THRESHOLD = 0.5


def members_by_node(taxonomy: Taxonomy, page_nodes: Mapping[str, str]) -> dict[str, set[str]]:
    members: dict[str, set[str]] = {node.id: set() for node in taxonomy.nodes}
    for page, node_id in page_nodes.items():
        if node_id not in taxonomy:
            continue
        members[node_id].add(page)
        for ancestor in taxonomy.ancestors(node_id):
            members[ancestor.id].add(page)
    return members


def node_similarity(
    new: Taxonomy, new_pages: Mapping[str, str], old: Taxonomy, old_pages: Mapping[str, str], embedder: TextEmbedder
) -> tuple[list[Node], list[Node], np.ndarray]:
    """(new nodes, old nodes, similarity matrix), only pairs on the same level being comparable
    (other pairs are -1)."""
    new_nodes, old_nodes = list(new.nodes), list(old.nodes)
    vectors = embedder.embed([f"{node.name}. {node.description}" for node in new_nodes + old_nodes])
    text = vectors[: len(new_nodes)] @ vectors[len(new_nodes) :].T
    new_members, old_members = members_by_node(new, new_pages), members_by_node(old, old_pages)
    similarity = np.full((len(new_nodes), len(old_nodes)), -1.0)
    for i, new_node in enumerate(new_nodes):
        for j, old_node in enumerate(old_nodes):
            if new_node.level != old_node.level:
                continue
            a, b = new_members[new_node.id], old_members[old_node.id]
            if a or b:
                jaccard = len(a & b) / len(a | b)
                similarity[i, j] = 0.5 * float(text[i, j]) + 0.5 * jaccard
            else:
                similarity[i, j] = float(text[i, j])
    return new_nodes, old_nodes, similarity


def carry_over_ids(
    new: Taxonomy,
    new_pages: Mapping[str, str],
    old: Taxonomy,
    old_pages: Mapping[str, str],
    embedder: TextEmbedder,
    threshold: float = DEFAULT_THRESHOLD,
) -> tuple[Taxonomy, dict[str, str]]:
    """`new` with previous ids where nodes match, and the renaming applied (new id -> final id)."""
    new_nodes, old_nodes, similarity = node_similarity(new, new_pages, old, old_pages, embedder)
    renaming: dict[str, str] = {}
    if len(new_nodes) and len(old_nodes):
        rows, columns = linear_sum_assignment(-similarity)
        for row, column in zip(rows, columns):
            if similarity[row, column] >= threshold:
                renaming[new_nodes[row].id] = old_nodes[column].id
    taken = set(renaming.values())
    reserved = set(old.node_ids)  # an old id never names a different node
    for node in new_nodes:
        if node.id in renaming:
            continue
        candidate = node.id
        number = 2
        while candidate in taken or candidate in reserved:
            candidate = f"{node.id[:58]}_v{number}"
            number += 1
        renaming[node.id] = candidate
        taken.add(candidate)
    nodes = tuple(
        replace(node, id=renaming[node.id], parent_id=renaming[node.parent_id] if node.parent_id is not None else None)
        for node in new_nodes
    )
    return replace(new, nodes=nodes), renaming
