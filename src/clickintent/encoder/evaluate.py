"""Linear probe of session embeddings on the hidden true intents (evaluation only).

Labels come from `<data_dir>/ground_truth/` and nothing else reads them: each mart session is
joined to true sessions through its event_ids (event_sessions.parquet), takes the true session
holding most of its events, and that true session's primary_intent (session_intents.parquet).
Bot sessions and sessions whose events are not in the ground truth are left out.

The probe is a multinomial logistic regression on standardized features, trained on the
earliest 70 % of sessions by start time and scored (macro-F1) on the latest 30 %. The same probe
runs on the peer representation, bag-of-taxonomy-node counts (how often each node occurs in the
session), so the comparison isolates the representation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class ProbeResult:
    macro_f1: float
    accuracy: float
    n_features: int


def session_labels(frame: pd.DataFrame, ground_truth_dir: Path) -> pd.Series:
    """primary_intent per session_id (index), by majority of the session's events."""
    ground_truth_dir = Path(ground_truth_dir)
    for name in ("event_sessions.parquet", "session_intents.parquet"):
        if not (ground_truth_dir / name).is_file():
            raise FileNotFoundError(f"{ground_truth_dir / name} not found: the probe needs the synthetic world's ground truth")
    event_sessions = pd.read_parquet(ground_truth_dir / "event_sessions.parquet", columns=["event_id", "true_session_id"])
    intents = pd.read_parquet(ground_truth_dir / "session_intents.parquet", columns=["true_session_id", "primary_intent", "is_bot"])
    events = frame[["session_id", "event_ids"]].explode("event_ids").rename(columns={"event_ids": "event_id"}).dropna()
    joined = events.merge(event_sessions, on="event_id", how="inner")
    majority = (
        joined.groupby(["session_id", "true_session_id"], sort=True)
        .size()
        .reset_index(name="n")
        .sort_values(["session_id", "n", "true_session_id"], ascending=[True, False, True], kind="stable")
        .drop_duplicates("session_id")
        .merge(intents, on="true_session_id", how="inner")
    )
    majority = majority[~majority["is_bot"].astype(bool)]
    return majority.set_index("session_id")["primary_intent"]


def bag_of_nodes(frame: pd.DataFrame, nodes: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Counts of each taxonomy node per session (columns: `nodes`, or every node seen)."""
    exploded = frame[["taxonomy_node_ids"]].reset_index(drop=True).explode("taxonomy_node_ids").dropna()
    if nodes is None:
        nodes = sorted(exploded["taxonomy_node_ids"].astype(str).unique().tolist())
    column = {n: i for i, n in enumerate(nodes)}
    counts = np.zeros((len(frame), len(nodes)), dtype=np.float32)
    codes = exploded["taxonomy_node_ids"].astype(str).map(column)
    keep = codes.notna().to_numpy()
    np.add.at(counts, (exploded.index.to_numpy()[keep], codes[keep].astype(int).to_numpy()), 1.0)
    return counts, nodes


def linear_probe(features: np.ndarray, labels: np.ndarray, train_mask: np.ndarray, seed: int = 7) -> ProbeResult:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0, random_state=seed))
    # One BLAS thread: on the shared 2-core machine lbfgs with two threads took 58 s where one
    # took 3.4 s, the oversubscription trap of docs/design.md ("Known traps").
    with threadpool_limits(limits=1):
        probe.fit(features[train_mask], labels[train_mask])
        predicted = probe.predict(features[~train_mask])
    return ProbeResult(
        macro_f1=float(f1_score(labels[~train_mask], predicted, average="macro")),
        accuracy=float(accuracy_score(labels[~train_mask], predicted)),
        n_features=int(features.shape[1]),
    )


def probe_embeddings(
    frame: pd.DataFrame,
    embeddings: np.ndarray,
    ground_truth_dir: Path,
    train_share: float = 0.7,
    max_sessions: int | None = 60_000,
    seed: int = 7,
) -> dict:
    """Probe report: the embedding against bag-of-taxonomy-node counts, same sessions, same split.

    `max_sessions` caps the probe (a seeded random sample) so that it stays a few seconds on a
    large world; the split is by time within the sample.
    """
    labels = session_labels(frame, ground_truth_dir)
    keep = frame["session_id"].isin(labels.index).to_numpy()
    if keep.sum() < 50:
        raise ValueError(f"only {int(keep.sum())} sessions have a ground-truth intent; the probe needs at least 50")
    rows = np.flatnonzero(keep)
    if max_sessions and len(rows) > max_sessions:
        rows = np.sort(np.random.default_rng(seed).choice(rows, size=max_sessions, replace=False))
    subset = frame.iloc[rows].reset_index(drop=True)
    y = labels.loc[subset["session_id"]].to_numpy()
    start = pd.to_datetime(subset["session_start_ts"], utc=True)
    cutoff = start.quantile(train_share)
    train_mask = (start <= cutoff).to_numpy()
    counts, _ = bag_of_nodes(subset)
    embedding_result = linear_probe(embeddings[rows], y, train_mask, seed)
    counts_result = linear_probe(counts, y, train_mask, seed)
    return {
        "label": "primary_intent of the true session holding most of the session's events",
        "split": f"by session start: earliest {train_share:.0%} train, rest test",
        "sessions": {"train": int(train_mask.sum()), "test": int((~train_mask).sum()), "classes": int(len(np.unique(y)))},
        "probe": "standardized features -> multinomial logistic regression (C=1); macro-F1 on the test part",
        "embedding": embedding_result.__dict__,
        "bag_of_taxonomy_nodes": counts_result.__dict__,
        "embedding_beats_bag_of_nodes": embedding_result.macro_f1 > counts_result.macro_f1,
    }
