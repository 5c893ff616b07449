"""Teacher labels: a primary node and every applicable node for sessions.

Two teachers, one output table (teacher_labels.parquet: session_id, primary_node_id, node_ids
';'-separated, teacher, taxonomy_version):

- `offline`: the embedding-clustering baseline at page level. A session's evidence for a node
  is the weight of its events on pages (via the page map) and searches (via the query map)
  of that node. A page view weighs idf(page) x sqrt(dwell seconds, clipped to 1..600): pages
  in every session (home, login, app home) say little, a long read says more than a bounce.
  A search weighs as much as a strong page view (the 90th percentile of page-view weights):
  a typed query is explicit intent. The primary node is chosen top-down (the level-1 node
  with most evidence, then its node with most evidence), so that evidence spread over the
  children of one need is not outvoted by a single other leaf. Applicable nodes: every node
  with at least 20 % of the evidence, and the primary. Cheap, so it labels every session.
- `llm:<model>`: the LLM labels a seeded sample of sessions from their redacted session text,
  validated against the taxonomy's node ids (StructuredLLM retries with the error; a session
  whose answers stay invalid is skipped and counted, never written with unknown ids).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from clickintent.taxonomy.llm import LLMError, LLMOutputError, StructuredLLM
from clickintent.taxonomy.model import Taxonomy
from clickintent.taxonomy.schemas import SESSION_LABEL_SCHEMA, SESSION_LABEL_SCHEMA_NAME, make_label_validator
from clickintent.taxonomy.session_text import SESSION_CLOSE, SESSION_OPEN, render_session_text
from clickintent.taxonomy.sessions import SessionBatch

log = logging.getLogger(__name__)

TEACHER_LABEL_SCHEMA = pa.schema(
    [
        ("session_id", pa.string()),
        ("primary_node_id", pa.string()),
        ("node_ids", pa.string()),
        ("teacher", pa.string()),
        ("taxonomy_version", pa.string()),
    ]
)
OFFLINE_TEACHER = "offline"
MAX_DWELL_SECONDS = 600.0
SEARCH_WEIGHT_PERCENTILE = 90
SECONDARY_SHARE = 0.2


def teacher_table(labels: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(labels[TEACHER_LABEL_SCHEMA.names], schema=TEACHER_LABEL_SCHEMA, preserve_index=False)


# ---------------------------------------------------------------------------------------------
# offline teacher


@dataclass
class NodeEvidence:
    """Per session (rows of the batch), evidence per node (columns: node_ids)."""

    node_ids: list[str]
    mass: np.ndarray  # float32 (n_sessions, n_nodes)


def node_evidence(
    taxonomy: Taxonomy, page_map: pd.DataFrame, query_map: pd.DataFrame, batch: SessionBatch, reference: SessionBatch | None = None
) -> NodeEvidence:
    """Evidence of `batch`'s sessions; the page weights (idf, the search weight) are statistics of
    `reference` (default: `batch`), the sessions the teacher is fitted on."""
    mapped = set(page_map["node_id"]) | set(query_map["node_id"])
    node_ids = [node_id for node_id in taxonomy.node_ids if node_id in mapped]
    column = {node_id: index for index, node_id in enumerate(node_ids)}
    mass = np.zeros((len(batch), len(node_ids)), dtype=np.float64)
    if not len(batch) or not node_ids:
        return NodeEvidence(node_ids, mass.astype(np.float32))

    codes, uniques = pd.factorize(pd.Series(batch.page_path, dtype=object))
    page_node = dict(zip(page_map["page_path"], page_map["node_id"]))
    node_of_code = np.array([column.get(page_node.get(path, ""), -1) for path in uniques], dtype=np.int64)
    reference = batch if reference is None else reference
    reference_codes = codes if reference is batch else uniques.get_indexer(pd.Series(reference.page_path, dtype=object))
    # Sessions containing each page: its document frequency.
    pairs = np.unique(reference.event_session * len(uniques) + reference_codes)
    document_frequency = np.bincount(pairs % len(uniques), minlength=len(uniques))
    idf = np.log((1.0 + len(reference)) / (1.0 + document_frequency))

    weights, page_events = _page_view_weights(batch, codes, node_of_code, idf)
    np.add.at(mass, (batch.event_session[page_events], node_of_code[codes][page_events]), weights[page_events])

    query_node = dict(zip(query_map["query"], query_map["node_id"]))
    has_query = pd.notna(batch.search_query)
    query_nodes = np.array([column.get(query_node.get(query, ""), -1) for query in batch.search_query[has_query]], dtype=np.int64)
    reference_weights, reference_page_events = (
        (weights, page_events) if reference is batch else _page_view_weights(reference, reference_codes, node_of_code, idf)
    )
    search_weight = (
        float(np.percentile(reference_weights[reference_page_events], SEARCH_WEIGHT_PERCENTILE)) if reference_page_events.any() else 1.0
    )
    known = query_nodes >= 0
    np.add.at(mass, (batch.event_session[has_query][known], query_nodes[known]), search_weight)
    return NodeEvidence(node_ids, mass.astype(np.float32))


def _page_view_weights(batch: SessionBatch, codes: np.ndarray, node_of_code: np.ndarray, idf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each event's weight idf(page) x sqrt(dwell seconds), and which events are mapped page views."""
    page_events = (batch.event_type != "search") & (node_of_code[codes] >= 0)
    dwell = np.sqrt(np.clip(batch.dwell_ms / 1000.0, 1.0, MAX_DWELL_SECONDS))
    return idf[codes] * dwell, page_events


def top_down_primary(taxonomy: Taxonomy, evidence: NodeEvidence) -> np.ndarray:
    """Index (into evidence.node_ids) of each session's primary node; -1 without evidence."""
    tops = [taxonomy.top_of(node_id).id for node_id in evidence.node_ids]
    top_ids = sorted(set(tops))
    top_index = np.array([top_ids.index(top) for top in tops])
    membership = np.zeros((len(evidence.node_ids), len(top_ids)), dtype=np.float32)
    membership[np.arange(len(tops)), top_index] = 1.0
    top_mass = evidence.mass @ membership
    best_top = top_mass.argmax(axis=1)
    within = np.where(top_index[None, :] == best_top[:, None], evidence.mass, -1.0)
    primary = within.argmax(axis=1)
    primary[evidence.mass.sum(axis=1) <= 0] = -1
    return primary


def offline_teacher_labels(
    taxonomy: Taxonomy, page_map: pd.DataFrame, query_map: pd.DataFrame, batch: SessionBatch, reference: SessionBatch | None = None
) -> pd.DataFrame:
    """Offline teacher labels for every session of `batch` that has any evidence, with the page
    weights of `reference` (default: `batch`; see node_evidence)."""
    evidence = node_evidence(taxonomy, page_map, query_map, batch, reference)
    primary = top_down_primary(taxonomy, evidence)
    totals = evidence.mass.sum(axis=1, keepdims=True)
    shares = evidence.mass / np.where(totals > 0, totals, 1.0)
    node_ids = np.array(evidence.node_ids, dtype=object)
    rows = np.flatnonzero(primary >= 0)
    applicable = []
    for row in rows:
        others = [node_ids[i] for i in np.flatnonzero(shares[row] >= SECONDARY_SHARE) if i != primary[row]]
        applicable.append(";".join([node_ids[primary[row]], *others]))
    return pd.DataFrame(
        {
            "session_id": batch.sessions["session_id"].to_numpy()[rows],
            "primary_node_id": node_ids[primary[rows]] if len(rows) else np.array([], dtype=object),
            "node_ids": applicable,
            "teacher": OFFLINE_TEACHER,
            "taxonomy_version": taxonomy.taxonomy_version,
        }
    )


# ---------------------------------------------------------------------------------------------
# LLM teacher

LABEL_SYSTEM_PROMPT = """\
You label visits to a bank's public website and mobile app with the visitor's intent, using a
fixed intent taxonomy. Choose the single node that best describes why the visitor came
(primary_node_id), and list every node that applies (node_ids, the primary one included). Use
only node ids from the taxonomy given; prefer the most specific node the evidence supports.
Return JSON that follows the schema."""


def taxonomy_listing(taxonomy: Taxonomy) -> str:
    """The taxonomy as prompt text: one line per node, indented by level."""
    return "\n".join(f"{'  ' * (node.level - 1)}- {node.id}: {node.name} - {node.description}" for node in taxonomy.nodes)


def label_prompt(taxonomy: Taxonomy, session_text: str) -> str:
    return (
        f"Intent taxonomy (node id: name - description):\n{taxonomy_listing(taxonomy)}\n\n"
        f"The visit, between {SESSION_OPEN} and {SESSION_CLOSE}:\n{session_text}\n\n"
        "Label the visit."
    )


@dataclass
class LLMLabelRun:
    labels: pd.DataFrame
    failures: list[dict] = field(default_factory=list)  # session_id, kind, message


class TooManyLLMFailures(RuntimeError):
    """Most requests failed: the endpoint is down or misconfigured; labels were not written."""


def llm_teacher_labels(
    llm: StructuredLLM,
    taxonomy: Taxonomy,
    batch: SessionBatch,
    rows: np.ndarray,
    titles: Mapping[str, str | None],
    *,
    workers: int = 4,
    on_done: Callable[[], None] | None = None,
    max_failure_share: float = 0.5,
) -> LLMLabelRun:
    """LLM labels for the sessions at `rows`. Invalid answers and failed requests skip the session."""
    validate = make_label_validator(taxonomy.node_ids)
    teacher = f"llm:{llm.model}"

    def label(row: int) -> tuple[dict | None, dict | None]:
        session_id = str(batch.sessions["session_id"].iat[row])
        try:
            text = render_session_text(batch.events(int(row), titles))
            answer = llm.complete(
                LABEL_SYSTEM_PROMPT, label_prompt(taxonomy, text), SESSION_LABEL_SCHEMA_NAME, SESSION_LABEL_SCHEMA, validate
            )
        except LLMOutputError as error:
            return None, {"session_id": session_id, "kind": "invalid_output", "message": " ".join(str(error).split())[:600]}
        except LLMError as error:
            return None, {"session_id": session_id, "kind": "request", "message": " ".join(str(error).split())[:600]}
        finally:
            if on_done is not None:
                on_done()
        ordered = list(dict.fromkeys([answer["primary_node_id"], *answer["node_ids"]]))
        return {"session_id": session_id, "primary_node_id": answer["primary_node_id"], "node_ids": ";".join(ordered)}, None

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(label, [int(row) for row in rows]))
    labelled = [label for label, _ in results if label is not None]
    failures = [failure for _, failure in results if failure is not None]
    request_failures = sum(failure["kind"] == "request" for failure in failures)
    if len(rows) and request_failures > max_failure_share * len(rows):
        raise TooManyLLMFailures(
            f"{request_failures} of {len(rows)} label requests failed (first: {failures[0]['message']}); "
            "answers so far are cached, rerun `clickintent taxonomy label` once the endpoint works"
        )
    frame = pd.DataFrame(labelled, columns=["session_id", "primary_node_id", "node_ids"])
    frame["teacher"] = teacher
    frame["taxonomy_version"] = taxonomy.taxonomy_version
    return LLMLabelRun(labels=frame.sort_values("session_id", kind="stable").reset_index(drop=True), failures=failures)


def carry_over_labels(labels: pd.DataFrame, taxonomy: Taxonomy) -> tuple[pd.DataFrame, int]:
    """LLM labels of an earlier taxonomy version whose node ids all still exist, re-stamped with
    the current version (an edit that renamed or moved nodes keeps them); others are dropped."""

    def still_valid(node_ids: str) -> bool:
        return all(node_id in taxonomy for node_id in node_ids.split(";") if node_id)

    keep = labels["primary_node_id"].map(lambda node_id: node_id in taxonomy) & labels["node_ids"].map(still_valid)
    kept = labels[keep].copy()
    kept["taxonomy_version"] = taxonomy.taxonomy_version
    return kept.reset_index(drop=True), int((~keep).sum())
