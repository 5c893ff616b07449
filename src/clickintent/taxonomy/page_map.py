"""Every page, app screen and known search query mapped to a taxonomy node.

A page's node, in order of precedence:
1. `pinned`: a reviewer pinned the page to a node in taxonomy.yaml;
2. `generator`: the generator placed it (offline: its cluster; LLM: the LLM's page mapping),
   if that node still exists (if it has since been given children, the nearest child);
3. `nearest`: pages first seen after generation, whose node was deleted, or that the generator
   did not place (app-only screens: the taxonomy is generated from the public site, see
   offline.py): the leaf whose text vector is most similar to the page's title and path
   (MiniLM cosine), plus, when the page was co-visited with mapped pages, the share of those
   co-visits on each leaf, weighted by n / (n + 3) for n such sessions (so that behaviour,
   which separates intents best, counts for new pages too, and more as their traffic grows).
   App screens are co-visited with app screens only, unmapped at that point, so they are
   placed by their text alone.

A leaf's text vector is the mean MiniLM vector of its mapped pages, or of its own name and
description when it has none (a node a reviewer just added, or an LLM taxonomy).

Known search queries (distinct, normalised) go to the leaf of most similar text vector.

Error pages (404s, scanner probes) are not mapped: dbt's own rule maps them to 'unknown'.
Outputs: page_map.parquet (the dbt source, columns as the brief fixes them) and
query_map.parquet (query, node_id, similarity, taxonomy_version).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from clickintent.taxonomy.embeddings import TextEmbedder, normalize_rows
from clickintent.taxonomy.inputs import page_text, strip_site_name
from clickintent.taxonomy.model import Taxonomy
from clickintent.taxonomy.offline import session_page_incidence
from clickintent.taxonomy.sessions import SessionBatch

PAGE_MAP_SCHEMA = pa.schema(
    [
        ("page_path", pa.string()),
        ("node_id", pa.string()),
        ("node_name", pa.string()),
        ("top_node_id", pa.string()),
        ("top_node_name", pa.string()),
        ("taxonomy_version", pa.string()),
    ]
)
QUERY_MAP_SCHEMA = pa.schema(
    [("query", pa.string()), ("node_id", pa.string()), ("similarity", pa.float32()), ("taxonomy_version", pa.string())]
)
# Trust in a new page's co-visit profile grows with its sessions: n / (n + this).
_COVISIT_PRIOR_SESSIONS = 3.0


@dataclass
class PageMapResult:
    page_map: pd.DataFrame  # PAGE_MAP_SCHEMA columns
    query_map: pd.DataFrame  # QUERY_MAP_SCHEMA columns
    mapping_source: pd.Series  # page_path -> pinned | generator | nearest
    summary: dict = field(default_factory=dict)

    def page_table(self) -> pa.Table:
        return pa.Table.from_pandas(self.page_map[PAGE_MAP_SCHEMA.names], schema=PAGE_MAP_SCHEMA, preserve_index=False)

    def query_table(self) -> pa.Table:
        return pa.Table.from_pandas(self.query_map[QUERY_MAP_SCHEMA.names], schema=QUERY_MAP_SCHEMA, preserve_index=False)


def leaf_text_vectors(
    taxonomy: Taxonomy, assigned: dict[str, str], page_vectors: dict[str, np.ndarray], embedder: TextEmbedder
) -> tuple[list[str], np.ndarray]:
    """(leaf ids, unit text vectors): mean of mapped pages' vectors, else name + description."""
    leaves = [node.id for node in taxonomy.leaves]
    members: dict[str, list[np.ndarray]] = {leaf: [] for leaf in leaves}
    for path, node_id in assigned.items():
        if node_id in members and path in page_vectors:
            members[node_id].append(page_vectors[path])
    empty = [leaf for leaf in leaves if not members[leaf]]
    described = (
        dict(zip(empty, embedder.embed([f"{taxonomy.node(leaf).name}. {taxonomy.node(leaf).description}" for leaf in empty])))
        if empty
        else {}
    )
    vectors = np.stack([np.mean(members[leaf], axis=0) if members[leaf] else described[leaf] for leaf in leaves])
    return leaves, normalize_rows(vectors)


def _nearest_leaf_under(taxonomy: Taxonomy, node_id: str, vector: np.ndarray, leaf_index: dict[str, int], leaf_vectors: np.ndarray) -> str:
    candidates = [node.id for node in taxonomy.descendants(node_id) if node.id in leaf_index]
    if not candidates:
        return node_id
    scores = leaf_vectors[[leaf_index[c] for c in candidates]] @ vector
    return candidates[int(np.argmax(scores))]


def build_page_map(
    taxonomy: Taxonomy,
    pages: pd.DataFrame,
    batch: SessionBatch,
    embedder: TextEmbedder,
    generator_assignments: pd.DataFrame | None = None,
) -> PageMapResult:
    """Map every non-error page of `pages` (inputs.load_pages) and every query of `batch`."""
    version = taxonomy.taxonomy_version
    pages = pages[~pages["is_error_page"]].reset_index(drop=True).copy()
    pages["title"] = strip_site_name(pages["page_title"])
    paths = pages["page_path"].tolist()
    text_vectors = (
        embedder.embed([page_text(path, title) for path, title in zip(paths, pages["title"])]) if paths else np.zeros((0, 384), np.float32)
    )
    vector_of = dict(zip(paths, text_vectors))

    assigned: dict[str, str] = {}
    source: dict[str, str] = {}
    for node in taxonomy.nodes:
        for path in node.pinned_pages:
            assigned[path], source[path] = node.id, "pinned"
    if generator_assignments is not None and len(generator_assignments):
        for path, node_id in zip(generator_assignments["page_path"], generator_assignments["node_id"]):
            if path not in assigned and node_id in taxonomy:
                assigned[path], source[path] = node_id, "generator"

    leaves, leaf_vectors = leaf_text_vectors(taxonomy, {p: n for p, n in assigned.items() if p in vector_of}, vector_of, embedder)
    leaf_index = {leaf: row for row, leaf in enumerate(leaves)}
    # A generator node that has since been given children: its pages go to the nearest child.
    for path, node_id in list(assigned.items()):
        if source[path] == "generator" and node_id not in leaf_index and path in vector_of:
            assigned[path] = _nearest_leaf_under(taxonomy, node_id, vector_of[path], leaf_index, leaf_vectors)

    unmapped = [path for path in paths if path not in assigned]
    if unmapped:
        row_of = {path: row for row, path in enumerate(paths)}
        text_scores = text_vectors[[row_of[path] for path in unmapped]] @ leaf_vectors.T
        behaviour = _covisit_profiles(unmapped, assigned, leaf_index, batch)
        scores = text_scores + behaviour
        for row, path in enumerate(unmapped):
            assigned[path], source[path] = leaves[int(np.argmax(scores[row]))], "nearest"

    mapped_paths = [path for path in paths if path in assigned] + sorted(p for p in assigned if p not in vector_of)
    node_ids = [assigned[path] for path in mapped_paths]
    tops = [taxonomy.top_of(node_id) for node_id in node_ids]
    page_map = (
        pd.DataFrame(
            {
                "page_path": mapped_paths,
                "node_id": node_ids,
                "node_name": [taxonomy.node(node_id).name for node_id in node_ids],
                "top_node_id": [top.id for top in tops],
                "top_node_name": [top.name for top in tops],
                "taxonomy_version": version,
            }
        )
        .sort_values("page_path", kind="stable")
        .reset_index(drop=True)
    )

    queries = batch.query_frequency()
    query_texts = list(queries.index)
    if query_texts:
        query_scores = embedder.embed(query_texts) @ leaf_vectors.T
        best = query_scores.argmax(axis=1)
        query_map = (
            pd.DataFrame(
                {
                    "query": query_texts,
                    "node_id": [leaves[i] for i in best],
                    "similarity": query_scores[np.arange(len(best)), best].astype(np.float32),
                    "taxonomy_version": version,
                }
            )
            .sort_values("query", kind="stable")
            .reset_index(drop=True)
        )
    else:
        query_map = pd.DataFrame({name: pd.Series(dtype=object) for name in QUERY_MAP_SCHEMA.names})

    mapping_source = pd.Series(source, name="mapping_source").reindex(page_map["page_path"]).fillna("pinned")
    n_events = pages.set_index("page_path")["n_events"]
    summary = {
        "n_pages": int(len(paths)),
        "n_pages_mapped": int(sum(path in assigned for path in paths)),
        "coverage": float(np.mean([path in assigned for path in paths])) if paths else 1.0,
        "event_coverage": float(n_events[[p for p in paths if p in assigned]].sum() / max(n_events.sum(), 1)),
        "by_source": {name: int(count) for name, count in mapping_source.value_counts().items()},
        "n_queries_mapped": int(len(query_map)),
    }
    return PageMapResult(page_map=page_map, query_map=query_map, mapping_source=mapping_source, summary=summary)


def _covisit_profiles(unmapped: list[str], assigned: dict[str, str], leaf_index: dict[str, int], batch: SessionBatch) -> np.ndarray:
    """For each unmapped page: the share of its sessions' mapped page views on each leaf,
    scaled by the trust n / (n + 3) in n sessions (rows sum to that trust, 0 without sessions)."""
    profiles = np.zeros((len(unmapped), len(leaf_index)), dtype=np.float32)
    if not len(batch) or not leaf_index:
        return profiles
    mapped = [path for path, node in assigned.items() if node in leaf_index]
    if not mapped:
        return profiles
    unmapped_incidence = session_page_incidence(unmapped, batch)  # sessions x unmapped
    mapped_incidence = session_page_incidence(mapped, batch)  # sessions x mapped
    to_leaf = np.zeros((len(mapped), len(leaf_index)), dtype=np.float32)
    to_leaf[np.arange(len(mapped)), [leaf_index[assigned[path]] for path in mapped]] = 1.0
    session_leaves = np.asarray(mapped_incidence @ to_leaf)  # sessions x leaves: mapped pages seen
    counts = np.asarray(unmapped_incidence.T @ session_leaves)  # unmapped x leaves
    with_mapped = (session_leaves.sum(axis=1) > 0).astype(np.float32)
    sessions = np.asarray(unmapped_incidence.T @ with_mapped).ravel()
    totals = counts.sum(axis=1)
    present = totals > 0
    trust = sessions / (sessions + _COVISIT_PRIOR_SESSIONS)
    profiles[present] = counts[present] / totals[present, None] * trust[present, None]
    return profiles
