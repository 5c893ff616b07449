"""Distil teacher labels into the fast classifier, store it without pickle, label every session.

Split: each teacher-labelled session is held out when a seeded hash of its id falls in the
held-out share (20 % by default), so the split is stable across reruns and across sessions
added later. Training uses at most `max_train_sessions` of the rest (seeded sample). Classes
are the teacher's primary nodes with at least `min_class_sessions` training sessions; rarer
ones cannot be learnt and are left out (counted in the model card).

Agreement with the teacher on the held-out sessions: accuracy and macro-F1, at the node and at
the level-1 node.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from safetensors.numpy import save_file
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score

from clickintent.artifacts import atomic_file, write_card
from clickintent.fit_window import CARD_FIELD, EVERY_SESSION
from clickintent.taxonomy.classifier import MODEL_NAME, IntentClassifier
from clickintent.taxonomy.features import batch_features, build_layout
from clickintent.taxonomy.io import JSON_OPTIONS, write_json_atomically
from clickintent.taxonomy.model import Taxonomy
from clickintent.taxonomy.sessions import SessionBatch

SESSION_INTENTS_SCHEMA = pa.schema(
    [
        ("session_id", pa.string()),
        ("platform", pa.string()),
        ("customer_id", pa.string()),
        ("session_end_ts", pa.timestamp("us", tz="UTC")),
        ("intent_node_id", pa.string()),
        ("intent_top_node_id", pa.string()),
        ("intent_confidence", pa.float32()),
        ("intent_top_node_probs", pa.list_(pa.float32())),
        ("taxonomy_version", pa.string()),
    ]
)


@dataclass(frozen=True)
class DistillConfig:
    heldout_share: float = 0.2
    max_train_sessions: int = 20_000
    min_class_sessions: int = 5
    regularization_c: float = 10.0  # inverse L2 strength of the logistic regression
    max_iter: int = 500
    hash_buckets: int = 256
    seed: int = 7


class DistillError(ValueError):
    """Distillation cannot run on these labels (too few, or one class only)."""


def is_heldout(session_ids: pd.Series, share: float, seed: int) -> np.ndarray:
    """Seeded, per-session split: the same session is always on the same side."""
    threshold = int(share * 10_000)

    def bucket(session_id: str) -> int:
        return int.from_bytes(hashlib.blake2b(f"{seed}:{session_id}".encode(), digest_size=4).digest(), "big") % 10_000

    return np.fromiter((bucket(str(session_id)) < threshold for session_id in session_ids), dtype=bool, count=len(session_ids))


@dataclass
class DistillResult:
    classifier: IntentClassifier
    metrics: dict
    heldout: pd.DataFrame  # session_id, teacher primary, teacher top, student primary, student top


def train_classifier(
    taxonomy: Taxonomy,
    page_map: pd.DataFrame,
    query_map: pd.DataFrame,
    batch: SessionBatch,
    teacher_labels: pd.DataFrame,
    config: DistillConfig,
) -> DistillResult:
    labels = teacher_labels[teacher_labels["primary_node_id"].map(lambda node_id: node_id in taxonomy)]
    row_of = batch.row_of()
    labels = labels[labels["session_id"].map(lambda session_id: session_id in row_of)].reset_index(drop=True)
    if len(labels) < 10:
        raise DistillError(f"distillation needs at least 10 teacher-labelled sessions present in the session mart; got {len(labels)}")
    heldout = is_heldout(labels["session_id"], config.heldout_share, config.seed)
    if heldout.all() or not heldout.any():
        heldout = np.zeros(len(labels), dtype=bool)
        heldout[:: max(2, int(round(1 / max(config.heldout_share, 0.01))))] = True
    train = labels[~heldout]
    if len(train) > config.max_train_sessions:
        train = train.sample(n=config.max_train_sessions, random_state=config.seed).sort_values("session_id")
    counts = train["primary_node_id"].value_counts()
    kept_classes = counts[counts >= config.min_class_sessions].index
    dropped_classes = sorted(set(counts.index) - set(kept_classes))
    train = train[train["primary_node_id"].isin(kept_classes)]
    class_ids = [node_id for node_id in taxonomy.node_ids if node_id in set(kept_classes)]
    if len(class_ids) < 2:
        raise DistillError(f"distillation needs at least 2 teacher classes with {config.min_class_sessions}+ sessions; got {class_ids}")

    layout = build_layout(taxonomy, page_map, query_map, config.hash_buckets)
    train_batch = batch.subset(np.array([row_of[s] for s in train["session_id"]]))
    train_labels = train.set_index("session_id").loc[train_batch.sessions["session_id"], "primary_node_id"].to_numpy()
    model = LogisticRegression(C=config.regularization_c, max_iter=config.max_iter, random_state=config.seed)
    model.fit(batch_features(layout, train_batch), train_labels)
    order = [list(model.classes_).index(class_id) for class_id in class_ids]
    top_node_ids = taxonomy.top_node_ids
    classifier = IntentClassifier(
        layout=layout,
        coef=model.coef_[order].T.astype(np.float64),
        intercept=model.intercept_[order].astype(np.float64),
        class_ids=class_ids,
        class_top_index=[top_node_ids.index(taxonomy.top_of(class_id).id) for class_id in class_ids],
        top_node_ids=top_node_ids,
        names={node.id: node.name for node in taxonomy.nodes},
        taxonomy_version=taxonomy.taxonomy_version,
    )

    held = labels[heldout]
    held_batch = batch.subset(np.array([row_of[s] for s in held["session_id"]], dtype=np.int64))
    predictions = classifier.predict_matrix(batch_features(layout, held_batch))
    teacher = held.set_index("session_id").loc[held_batch.sessions["session_id"], "primary_node_id"].to_numpy()
    teacher_top = np.array([taxonomy.top_of(node_id).id for node_id in teacher], dtype=object)
    comparison = pd.DataFrame(
        {
            "session_id": held_batch.sessions["session_id"].to_numpy(),
            "teacher_node_id": teacher,
            "teacher_top_node_id": teacher_top,
            "student_node_id": predictions.node_ids,
            "student_top_node_id": predictions.top_ids,
        }
    )
    sessions = batch.sessions.set_index("session_id").loc[train["session_id"]]
    metrics = {
        "heldout_sessions": int(len(held)),
        "train_sessions": int(len(train)),
        "teacher_labelled_sessions": int(len(labels)),
        "classes": len(class_ids),
        "dropped_rare_classes": dropped_classes,
        "agreement_node": _agreement(teacher, predictions.node_ids),
        "agreement_top_node": _agreement(teacher_top, predictions.top_ids),
        "data_window": {
            "start": str(sessions["session_start_ts"].min()),
            "end": str(sessions["session_end_ts"].max()),
        },
    }
    return DistillResult(classifier=classifier, metrics=metrics, heldout=comparison)


def _agreement(teacher: np.ndarray, student: np.ndarray) -> dict[str, float]:
    if not len(teacher):
        return {"accuracy": float("nan"), "macro_f1": float("nan")}
    return {
        "accuracy": float(accuracy_score(teacher.astype(str), student.astype(str))),
        "macro_f1": float(f1_score(teacher.astype(str), student.astype(str), average="macro", zero_division=0)),
    }


def save_classifier(result: DistillResult, directory: Path, *, teacher: str, fit_sessions_before: dict | None = None) -> None:
    """weights.safetensors + features.json + model_card.json, each written atomically; the
    card last, so a card always describes weights that are already in place. `fit_sessions_before`
    (FitWindow.card) records which sessions the taxonomy, teacher and classifier were fitted on."""
    classifier = result.classifier
    directory.mkdir(parents=True, exist_ok=True)
    with atomic_file(directory / "weights.safetensors") as temporary:
        save_file({"coef": classifier.coef.astype(np.float32), "intercept": classifier.intercept.astype(np.float32)}, str(temporary))
    write_json_atomically(
        directory / "features.json",
        {
            "layout": classifier.layout.to_json(),
            "class_ids": list(classifier.class_ids),
            "class_top_index": classifier.class_top_index.tolist(),
            "top_node_ids": list(classifier.top_node_ids),
            "names": classifier.names,
            "taxonomy_version": classifier.taxonomy_version,
        },
    )
    card = {
        "name": MODEL_NAME,
        "version": f"{classifier.taxonomy_version}",
        "created_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "model": "multinomial logistic regression (sklearn lbfgs, L2), exported as float32 safetensors",
        "teacher": teacher,
        "taxonomy_version": classifier.taxonomy_version,
        "data_window": result.metrics["data_window"],
        CARD_FIELD: fit_sessions_before or EVERY_SESSION.card(),
        "features": {
            "count": classifier.layout.n_features,
            "blocks": [
                "dwell share per taxonomy node (page map; unknown pages by URL section)",
                "page-view share per taxonomy node",
                "search share per taxonomy node (known queries)",
                f"hashed search-query words ({classifier.layout.hash_buckets} CRC-32 buckets)",
                "event-type shares",
                "is_app, log(1 + events) / 4, unmapped page-view share",
            ],
        },
        "classes": list(classifier.class_ids),
        "top_node_ids": list(classifier.top_node_ids),
        "metrics": {key: value for key, value in result.metrics.items() if key != "data_window"},
    }
    write_card(directory, card, **JSON_OPTIONS)


def label_all_sessions(classifier: IntentClassifier, batch: SessionBatch) -> pa.Table:
    """session_intents: the classifier's label for every session of the batch."""
    predictions = classifier.predict_matrix(batch_features(classifier.layout, batch))
    sessions = batch.sessions
    end_ts = pd.to_datetime(sessions["session_end_ts"], utc=True)
    return pa.table(
        {
            "session_id": pa.array(sessions["session_id"].astype(str).to_numpy(), pa.string()),
            "platform": pa.array(sessions["platform"].astype(str).to_numpy(), pa.string()),
            "customer_id": pa.array(sessions["customer_id"].where(sessions["customer_id"].notna(), None).tolist(), pa.string()),
            "session_end_ts": pa.array(end_ts, pa.timestamp("us", tz="UTC")),
            "intent_node_id": pa.array(predictions.node_ids.tolist(), pa.string()),
            "intent_top_node_id": pa.array(predictions.top_ids.tolist(), pa.string()),
            "intent_confidence": pa.array(predictions.confidence.astype(np.float32), pa.float32()),
            "intent_top_node_probs": pa.array(list(predictions.top_probs.astype(np.float32)), pa.list_(pa.float32())),
            "taxonomy_version": pa.array([classifier.taxonomy_version] * len(sessions), pa.string()),
        },
        schema=SESSION_INTENTS_SCHEMA,
    )
