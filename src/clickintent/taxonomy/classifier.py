"""The distilled intent classifier: labels a live session from its raw events in microseconds.

    classifier = IntentClassifier.load(models_dir)
    prediction = classifier.predict_events(events)   # events: dicts with the contract's names
    prediction.node_id, prediction.top_node_id, prediction.confidence, prediction.top_node_probs

A multinomial logistic regression over features that are dictionary lookups on a session's
events, so no model runs online:
- per taxonomy node: share of dwell and share of page views on pages of that node (page map;
  a page unknown to the map falls back to its URL section's most common node);
- per node: share of searches whose query is a known query of that node (query map);
- hashed words of the search queries (CRC-32 into `hash_buckets` buckets), so that unseen
  queries still count;
- shares of each event type, app or web, log number of events, share of unmapped page views.

Decoding is top-down, like the teacher: the level-1 node of highest probability (the sum of
its classes' probabilities), then its class of highest probability.

Stored without pickle in `<models_dir>/intent_classifier/`: weights.safetensors (coef [F, C],
intercept [C]), features.json (lookup tables and feature layout), model_card.json.
This module imports only the standard library, numpy and safetensors, for serving.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file

from clickintent.artifacts import read_card
from clickintent.taxonomy.dbt_rules import url_section
from clickintent.taxonomy.text_keys import normalize_query, query_tokens

MODEL_NAME = "intent_classifier"
EVENT_TYPES = ("page_view", "screen_view", "click", "search", "calculator", "form_start", "form_submit", "login", "logout")
MAX_DWELL_SECONDS = 600.0
EXTRA_FEATURES = ("is_app", "log_events", "unmapped_share")


@dataclass(frozen=True)
class FeatureLayout:
    """Where each feature block sits in the feature vector; saved as features.json."""

    node_ids: tuple[str, ...]  # nodes the page and query maps use
    page_nodes: Mapping[str, int]  # page_path -> index into node_ids
    section_nodes: Mapping[str, int]  # url section -> index (fallback for unknown pages)
    query_nodes: Mapping[str, int]  # normalised query -> index
    hash_buckets: int = 256

    @property
    def n_nodes(self) -> int:
        return len(self.node_ids)

    @property
    def dwell_offset(self) -> int:
        return 0

    @property
    def count_offset(self) -> int:
        return self.n_nodes

    @property
    def query_offset(self) -> int:
        return 2 * self.n_nodes

    @property
    def token_offset(self) -> int:
        return 3 * self.n_nodes

    @property
    def event_type_offset(self) -> int:
        return 3 * self.n_nodes + self.hash_buckets

    @property
    def extra_offset(self) -> int:
        return self.event_type_offset + len(EVENT_TYPES)

    @property
    def n_features(self) -> int:
        return self.extra_offset + len(EXTRA_FEATURES)

    def feature_names(self) -> list[str]:
        return (
            [f"dwell_share:{node}" for node in self.node_ids]
            + [f"view_share:{node}" for node in self.node_ids]
            + [f"query_share:{node}" for node in self.node_ids]
            + [f"query_token_hash:{bucket}" for bucket in range(self.hash_buckets)]
            + [f"event_type_share:{event_type}" for event_type in EVENT_TYPES]
            + list(EXTRA_FEATURES)
        )

    def node_of_page(self, page_path: str) -> int:
        node = self.page_nodes.get(page_path)
        if node is None:
            node = self.section_nodes.get(url_section(page_path), -1)
        return node

    def token_bucket(self, token: str) -> int:
        return zlib.crc32(token.encode("utf-8")) % self.hash_buckets

    def to_json(self) -> dict:
        return {
            "node_ids": list(self.node_ids),
            "page_nodes": dict(self.page_nodes),
            "section_nodes": dict(self.section_nodes),
            "query_nodes": dict(self.query_nodes),
            "hash_buckets": self.hash_buckets,
            "event_types": list(EVENT_TYPES),
            "extra_features": list(EXTRA_FEATURES),
            "max_dwell_seconds": MAX_DWELL_SECONDS,
        }

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> FeatureLayout:
        if list(payload.get("event_types", EVENT_TYPES)) != list(EVENT_TYPES):
            raise ValueError("features.json was written for other event types; re-run `clickintent taxonomy distill`")
        return cls(
            node_ids=tuple(payload["node_ids"]),
            page_nodes=dict(payload["page_nodes"]),
            section_nodes=dict(payload["section_nodes"]),
            query_nodes=dict(payload["query_nodes"]),
            hash_buckets=int(payload["hash_buckets"]),
        )


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if math.isnan(number) or number < 0 else number


def session_features(layout: FeatureLayout, events: Iterable[Mapping[str, Any]], platform: str | None = None) -> dict[int, float]:
    """The sparse feature vector of one session (index -> value). The batch builder in
    features.py computes the same numbers for many sessions at once (a test holds them equal)."""
    n_nodes = layout.n_nodes
    dwell_by_node: dict[int, float] = {}
    views_by_node: dict[int, int] = {}
    queries_by_node: dict[int, int] = {}
    tokens: dict[int, int] = {}
    type_counts: dict[int, int] = {}
    total_dwell = 0.0
    page_events = unmapped = searches = n_events = 0
    type_index = _EVENT_TYPE_INDEX
    for event in events:
        n_events += 1
        if platform is None:
            platform = event.get("platform")
        event_type = event.get("event_type")
        position = type_index.get(event_type) if isinstance(event_type, str) else None
        if position is not None:
            type_counts[position] = type_counts.get(position, 0) + 1
        if event_type == "search":
            query = normalize_query(event.get("search_query"))
            if query is not None:
                searches += 1
                node = layout.query_nodes.get(query)
                if node is not None:
                    queries_by_node[node] = queries_by_node.get(node, 0) + 1
                for token in query_tokens(query):
                    bucket = layout.token_bucket(token)
                    tokens[bucket] = tokens.get(bucket, 0) + 1
            continue
        page_path = event.get("page_path")
        if page_path is None:
            continue
        page_events += 1
        dwell = min(_number(event.get("dwell_ms")) / 1000.0, MAX_DWELL_SECONDS)
        total_dwell += dwell
        node = layout.node_of_page(page_path)
        if node < 0:
            unmapped += 1
            continue
        views_by_node[node] = views_by_node.get(node, 0) + 1
        dwell_by_node[node] = dwell_by_node.get(node, 0.0) + dwell

    features: dict[int, float] = {}
    if total_dwell > 0:
        for node, dwell in dwell_by_node.items():
            if dwell > 0:
                features[node] = dwell / total_dwell
    if page_events:
        for node, views in views_by_node.items():
            features[n_nodes + node] = views / page_events
    if searches:
        for node, count in queries_by_node.items():
            features[2 * n_nodes + node] = count / searches
        for bucket, count in tokens.items():
            features[layout.token_offset + bucket] = count / searches
    if n_events:
        for position, count in type_counts.items():
            features[layout.event_type_offset + position] = count / n_events
    extra = layout.extra_offset
    if platform == "app":
        features[extra] = 1.0
    features[extra + 1] = math.log1p(n_events) / 4.0
    if page_events and unmapped:
        features[extra + 2] = unmapped / page_events
    return features


_EVENT_TYPE_INDEX = {event_type: index for index, event_type in enumerate(EVENT_TYPES)}


@dataclass(frozen=True)
class IntentPrediction:
    node_id: str
    node_name: str
    top_node_id: str
    top_node_name: str
    confidence: float  # probability of node_id
    top_node_ids: tuple[str, ...]  # the taxonomy's level-1 nodes, sorted by id
    top_node_probs: tuple[float, ...]  # aligned with top_node_ids
    taxonomy_version: str


class IntentClassifier:
    """Weights and lookups of a distilled classifier; `predict_events` for one live session,
    `predict_matrix` for a batch of feature rows (features.py builds them)."""

    def __init__(
        self,
        layout: FeatureLayout,
        coef: np.ndarray,  # (n_features, n_classes)
        intercept: np.ndarray,  # (n_classes,)
        class_ids: Sequence[str],
        class_top_index: Sequence[int],  # level-1 node (index into top_node_ids) of each class
        top_node_ids: Sequence[str],
        names: Mapping[str, str],
        taxonomy_version: str,
        card: Mapping[str, Any] | None = None,
    ):
        if coef.shape != (layout.n_features, len(class_ids)) or intercept.shape != (len(class_ids),):
            raise ValueError(
                f"classifier weights do not match its layout: coef {coef.shape}, intercept {intercept.shape}, "
                f"{layout.n_features} features, {len(class_ids)} classes"
            )
        self.layout = layout
        self.coef = np.ascontiguousarray(coef, dtype=np.float64)
        self.intercept = np.asarray(intercept, dtype=np.float64)
        self.class_ids = tuple(class_ids)
        self.class_top_index = np.asarray(class_top_index, dtype=np.int64)
        self.top_node_ids = tuple(top_node_ids)
        self.names = dict(names)
        self.taxonomy_version = taxonomy_version
        self.card = dict(card or {})
        self._top_membership = np.zeros((len(class_ids), len(top_node_ids)), dtype=np.float64)
        self._top_membership[np.arange(len(class_ids)), self.class_top_index] = 1.0

    # ---- storage -------------------------------------------------------------------------

    @classmethod
    def load(cls, models_dir: Path | str) -> IntentClassifier:
        """From `<models_dir>/intent_classifier/` (or that directory itself)."""
        directory = Path(models_dir)
        if not (directory / "weights.safetensors").is_file():
            directory = directory / MODEL_NAME
        weights_path = directory / "weights.safetensors"
        if not weights_path.is_file():
            raise FileNotFoundError(f"no intent classifier in {directory}: run `clickintent taxonomy distill` first")
        tensors = load_file(str(weights_path))
        features = json.loads((directory / "features.json").read_text(encoding="utf-8"))
        card = read_card(directory, name=MODEL_NAME, train_command="clickintent taxonomy distill", required_files=("features.json",))
        return cls(
            layout=FeatureLayout.from_json(features["layout"]),
            coef=tensors["coef"],
            intercept=tensors["intercept"],
            class_ids=features["class_ids"],
            class_top_index=features["class_top_index"],
            top_node_ids=features["top_node_ids"],
            names=features["names"],
            taxonomy_version=features["taxonomy_version"],
            card=card,
        )

    # ---- prediction ----------------------------------------------------------------------

    def probabilities(self, features: Mapping[int, float]) -> np.ndarray:
        logits = self.intercept.copy()
        if features:
            index = np.fromiter(features.keys(), dtype=np.int64, count=len(features))
            values = np.fromiter(features.values(), dtype=np.float64, count=len(features))
            logits += values @ self.coef[index]
        logits -= logits.max()
        np.exp(logits, out=logits)
        logits /= logits.sum()
        return logits

    def _decode(self, probabilities: np.ndarray) -> IntentPrediction:
        top_probs = probabilities @ self._top_membership
        top = int(top_probs.argmax())
        within = np.where(self.class_top_index == top, probabilities, -1.0)
        best = int(within.argmax())
        node_id, top_id = self.class_ids[best], self.top_node_ids[top]
        return IntentPrediction(
            node_id=node_id,
            node_name=self.names.get(node_id, node_id),
            top_node_id=top_id,
            top_node_name=self.names.get(top_id, top_id),
            confidence=float(probabilities[best]),
            top_node_ids=self.top_node_ids,
            top_node_probs=tuple(float(p) for p in top_probs),
            taxonomy_version=self.taxonomy_version,
        )

    def predict_events(self, events: Iterable[Mapping[str, Any]], platform: str | None = None) -> IntentPrediction:
        """Label one session from its raw events (dicts with event_type, page_path, dwell_ms,
        search_query; platform from the argument or the events). Event order does not matter."""
        return self._decode(self.probabilities(session_features(self.layout, events, platform)))

    def predict_matrix(self, matrix) -> BatchPredictions:
        """Labels for feature rows (a scipy sparse or dense matrix from features.py)."""
        logits = np.asarray(matrix @ self.coef) + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        top_probs = probabilities @ self._top_membership
        top = top_probs.argmax(axis=1)
        within = np.where(self.class_top_index[None, :] == top[:, None], probabilities, -1.0)
        best = within.argmax(axis=1)
        return BatchPredictions(
            class_index=best,
            confidence=probabilities[np.arange(len(best)), best],
            top_index=top,
            top_probs=top_probs,
            class_ids=self.class_ids,
            top_node_ids=self.top_node_ids,
        )


@dataclass(frozen=True)
class BatchPredictions:
    class_index: np.ndarray
    confidence: np.ndarray
    top_index: np.ndarray
    top_probs: np.ndarray  # (n, n_top)
    class_ids: tuple[str, ...]
    top_node_ids: tuple[str, ...]

    @property
    def node_ids(self) -> np.ndarray:
        return np.asarray(self.class_ids, dtype=object)[self.class_index]

    @property
    def top_ids(self) -> np.ndarray:
        return np.asarray(self.top_node_ids, dtype=object)[self.top_index]
