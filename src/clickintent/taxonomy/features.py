"""Classifier features for many sessions at once, vectorised: the same numbers as
classifier.session_features computes for one live session (a test holds the two equal).

Also builds the lookup tables (FeatureLayout) from the page and query maps.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sparse

from clickintent.taxonomy.classifier import EVENT_TYPES, MAX_DWELL_SECONDS, FeatureLayout
from clickintent.taxonomy.dbt_rules import url_section
from clickintent.taxonomy.model import Taxonomy
from clickintent.taxonomy.sessions import SessionBatch
from clickintent.taxonomy.text_keys import query_tokens


def build_layout(taxonomy: Taxonomy, page_map: pd.DataFrame, query_map: pd.DataFrame, hash_buckets: int = 256) -> FeatureLayout:
    used = set(page_map["node_id"]) | set(query_map["node_id"])
    node_ids = tuple(node_id for node_id in taxonomy.node_ids if node_id in used)
    index = {node_id: position for position, node_id in enumerate(node_ids)}
    page_nodes = {path: index[node] for path, node in zip(page_map["page_path"], page_map["node_id"]) if node in index}
    # An unknown page falls back to the node most pages of its URL section map to.
    sections = pd.DataFrame({"section": [url_section(path) for path in page_map["page_path"]], "node": page_map["node_id"]})
    section_nodes = {}
    for section, group in sections.groupby("section", sort=True):
        counts = group["node"].value_counts()
        best = sorted(counts[counts == counts.max()].index)[0]
        section_nodes[str(section)] = index[best]
    query_nodes = {query: index[node] for query, node in zip(query_map["query"], query_map["node_id"]) if node in index}
    return FeatureLayout(
        node_ids=node_ids, page_nodes=page_nodes, section_nodes=section_nodes, query_nodes=query_nodes, hash_buckets=hash_buckets
    )


def batch_features(layout: FeatureLayout, batch: SessionBatch) -> sparse.csr_matrix:
    """(n_sessions, n_features) CSR matrix, float64."""
    n_sessions, n_nodes = len(batch), layout.n_nodes
    session = batch.event_session
    blocks_rows: list[np.ndarray] = []
    blocks_columns: list[np.ndarray] = []
    blocks_values: list[np.ndarray] = []

    def add(rows: np.ndarray, columns: np.ndarray, values: np.ndarray) -> None:
        blocks_rows.append(rows)
        blocks_columns.append(columns)
        blocks_values.append(values)

    n_events = np.bincount(session, minlength=n_sessions).astype(np.float64)
    is_search = batch.event_type == "search"
    has_query = is_search & pd.notna(batch.search_query)
    is_page = ~is_search & pd.notna(batch.page_path)

    # page views: node by page map, else URL section, else unmapped
    codes, uniques = pd.factorize(pd.Series(batch.page_path, dtype=object))
    node_of_code = np.array([layout.node_of_page(path) for path in uniques], dtype=np.int64)
    event_node = np.where(codes >= 0, node_of_code[np.maximum(codes, 0)], -1)
    dwell = np.minimum(batch.dwell_ms / 1000.0, MAX_DWELL_SECONDS)
    page_events = np.bincount(session[is_page], minlength=n_sessions).astype(np.float64)
    total_dwell = np.bincount(session[is_page], weights=dwell[is_page], minlength=n_sessions)
    mapped = is_page & (event_node >= 0)
    unmapped = np.bincount(session[is_page & (event_node < 0)], minlength=n_sessions).astype(np.float64)

    pair = session[mapped] * n_nodes + event_node[mapped]
    keys, inverse = np.unique(pair, return_inverse=True)
    rows, nodes = keys // n_nodes, keys % n_nodes
    dwell_sum = np.bincount(inverse, weights=dwell[mapped], minlength=len(keys))
    view_sum = np.bincount(inverse, minlength=len(keys)).astype(np.float64)
    positive = (dwell_sum > 0) & (total_dwell[rows] > 0)
    add(rows[positive], layout.dwell_offset + nodes[positive], dwell_sum[positive] / total_dwell[rows[positive]])
    add(rows, layout.count_offset + nodes, view_sum / page_events[rows])

    # searches: known query -> node; hashed tokens for every query
    searches = np.bincount(session[has_query], minlength=n_sessions).astype(np.float64)
    query_codes, query_uniques = pd.factorize(pd.Series(batch.search_query[has_query], dtype=object))
    query_sessions = session[has_query]
    node_of_query = np.array([layout.query_nodes.get(query, -1) for query in query_uniques], dtype=np.int64)
    query_node = node_of_query[query_codes] if len(query_codes) else np.zeros(0, np.int64)
    known = query_node >= 0
    if known.any():
        pair = query_sessions[known] * n_nodes + query_node[known]
        keys, counts = np.unique(pair, return_counts=True)
        rows = keys // n_nodes
        add(rows, layout.query_offset + keys % n_nodes, counts / searches[rows])
    if len(query_uniques):
        token_lists = [[layout.token_bucket(token) for token in query_tokens(query)] for query in query_uniques]
        lengths = np.array([len(tokens) for tokens in token_lists], dtype=np.int64)
        flat_buckets = np.array([bucket for tokens in token_lists for bucket in tokens], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)])
        per_event = lengths[query_codes]
        event_rows = np.repeat(query_sessions, per_event)
        event_buckets = (
            flat_buckets[np.concatenate([np.arange(starts[c], starts[c + 1]) for c in query_codes])]
            if per_event.sum()
            else np.zeros(0, np.int64)
        )
        if len(event_rows):
            pair = event_rows * layout.hash_buckets + event_buckets
            keys, counts = np.unique(pair, return_counts=True)
            rows = keys // layout.hash_buckets
            add(rows, layout.token_offset + keys % layout.hash_buckets, counts / searches[rows])

    # event types
    type_index = {event_type: position for position, event_type in enumerate(EVENT_TYPES)}
    type_codes = np.array([type_index.get(event_type, -1) for event_type in batch.event_type], dtype=np.int64)
    typed = type_codes >= 0
    pair = session[typed] * len(EVENT_TYPES) + type_codes[typed]
    keys, counts = np.unique(pair, return_counts=True)
    rows = keys // len(EVENT_TYPES)
    add(rows, layout.event_type_offset + keys % len(EVENT_TYPES), counts / n_events[rows])

    # extras
    all_rows = np.arange(n_sessions)
    is_app = batch.sessions["platform"].to_numpy() == "app"
    add(all_rows[is_app], np.full(int(is_app.sum()), layout.extra_offset), np.ones(int(is_app.sum())))
    add(all_rows, np.full(n_sessions, layout.extra_offset + 1), np.log1p(n_events) / 4.0)
    has_unmapped = unmapped > 0
    add(
        all_rows[has_unmapped],
        np.full(int(has_unmapped.sum()), layout.extra_offset + 2),
        unmapped[has_unmapped] / page_events[has_unmapped],
    )

    matrix = sparse.csr_matrix(
        (np.concatenate(blocks_values), (np.concatenate(blocks_rows), np.concatenate(blocks_columns))),
        shape=(n_sessions, layout.n_features),
        dtype=np.float64,
    )
    matrix.sum_duplicates()
    return matrix
