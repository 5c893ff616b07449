"""Linear probe of session embeddings on the hidden true intents (evaluation only).

Labels come from `<data_dir>/ground_truth/` and nothing else reads them: each mart session is
joined to true sessions through its event_ids (event_sessions.parquet), takes the true session
holding most of its events, and that true session's primary_intent (session_intents.parquet).
Bot sessions and sessions whose events are not in the ground truth are left out.

The probe is a multinomial logistic regression on standardized features, trained on the
earliest 70 % of sessions by start time and scored (macro-F1) on the latest 30 %. The same probe
runs on the peer representation, bag-of-taxonomy-node counts (how often each node occurs in the
session), so the comparison isolates the representation.

The cross-platform probe asks whether web and app sessions of
one intent land in one space: the same probe trained on one platform's sessions and tested on the
other's, beside the probe trained and tested on one platform, for the embedding, the distilled
intent distribution (the taxonomy stage's `intent_top_node_probs`) and the bag of taxonomy nodes.
One time cutoff serves every cell: training sessions start at or before it, test sessions after,
so no test session's period is seen in training. Both platforms train on the same number of
sessions (a seeded sample of the larger one), so a cross/within gap is not a data-size gap, and
`web_to_app` is scored on exactly the test sessions of `within_app` (likewise `app_to_web` and
`within_web`). Macro-F1 averages over the classes present in the test platform's truth: a class
the training platform never shows scores 0 there, a predicted class absent from the test truth
counts only as an error on the true class.
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


def _fit_predict(train_features: np.ndarray, train_labels: np.ndarray, test_features: np.ndarray, seed: int) -> np.ndarray:
    """The probe: standardized features, multinomial logistic regression (C=1); test predictions."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0, random_state=seed))
    # One BLAS thread: on the shared 2-core machine lbfgs with two threads took 58 s where one
    # took 3.4 s, the oversubscription trap of docs/design.md ("Known traps").
    with threadpool_limits(limits=1):
        probe.fit(train_features, train_labels)
        return probe.predict(test_features)


def linear_probe(features: np.ndarray, labels: np.ndarray, train_mask: np.ndarray, seed: int = 7) -> ProbeResult:
    from sklearn.metrics import accuracy_score, f1_score

    predicted = _fit_predict(features[train_mask], labels[train_mask], features[~train_mask], seed)
    return ProbeResult(
        macro_f1=float(f1_score(labels[~train_mask], predicted, average="macro")),
        accuracy=float(accuracy_score(labels[~train_mask], predicted)),
        n_features=int(features.shape[1]),
    )


PLATFORMS = ("web", "app")
# Issue 19's target: the embedding's cross-platform macro-F1 at least this share of within-platform.
CROSS_PLATFORM_TARGET_RATIO = 0.9
# Fewer sessions than this on one side of a platform's split give no meaningful macro-F1.
MIN_PLATFORM_SESSIONS = 20
CROSS_PLATFORM_CELLS = {
    # cell: (training platform, test platform)
    "within_web": ("web", "web"),
    "within_app": ("app", "app"),
    "web_to_app": ("web", "app"),
    "app_to_web": ("app", "web"),
}
# cross cell -> the within cell scored on the same test sessions
CROSS_OVER_WITHIN = {"web_to_app": "within_app", "app_to_web": "within_web"}


def distilled_intent_distribution(session_ids: pd.Series, session_intents_path: Path | None) -> np.ndarray | str:
    """The taxonomy stage's `intent_top_node_probs` for `session_ids`, in their order; a string
    saying what is missing when the file or some of the sessions are not there."""
    if session_intents_path is None or not Path(session_intents_path).is_file():
        return f"not measured: {session_intents_path} not found (run `clickintent taxonomy run` first)"
    stored = pd.read_parquet(session_intents_path, columns=["session_id", "intent_top_node_probs"])
    by_id = dict(zip(stored["session_id"], stored["intent_top_node_probs"]))
    missing = int((~session_ids.isin(by_id)).sum())
    if missing:
        return (
            f"not measured: {missing} of the probe's {len(session_ids)} sessions have no row in {session_intents_path} "
            "(re-run `clickintent taxonomy run` on the current mart)"
        )
    return np.stack([np.asarray(by_id[s], dtype=np.float32) for s in session_ids])


def _score(truth: np.ndarray, predicted: np.ndarray) -> dict:
    """Macro-F1 over the classes present in `truth` (the one class rule of every cell), accuracy, F1 per class."""
    from sklearn.metrics import accuracy_score, f1_score

    classes = sorted(np.unique(truth).tolist())
    per_class = f1_score(truth, predicted, labels=classes, average=None, zero_division=0)
    return {
        "macro_f1": float(np.mean(per_class)),
        "accuracy": float(accuracy_score(truth, predicted)),
        "f1_by_class": {str(c): round(float(f), 4) for c, f in zip(classes, per_class)},
    }


def _ratio(cross: float, within: float) -> float | None:
    return float(cross / within) if within > 0 else None


def cross_platform_probe(
    representations: dict[str, np.ndarray | str],
    labels: np.ndarray,
    platforms: np.ndarray,
    train_mask: np.ndarray,
    seed: int = 7,
) -> dict:
    """The probe across platforms: for each representation (features with one row per session, or
    a "not measured: ..." string), the four cells of CROSS_PLATFORM_CELLS and cross/within ratios.

    `train_mask` is the time split (True: the session starts at or before the cutoff). Each
    platform trains on the same number of its early sessions (a seeded sample of the larger one)
    and is tested on all its late sessions.
    """
    labels, platforms, train_mask = np.asarray(labels), np.asarray(platforms).astype(str), np.asarray(train_mask, dtype=bool)
    rows = {
        p: {"train": np.flatnonzero((platforms == p) & train_mask), "test": np.flatnonzero((platforms == p) & ~train_mask)}
        for p in PLATFORMS
    }
    counts = {p: {side: int(len(r)) for side, r in rows[p].items()} for p in PLATFORMS}
    too_few = [f"{p} {side} {n}" for p in PLATFORMS for side, n in counts[p].items() if n < MIN_PLATFORM_SESSIONS]
    if too_few:
        return {
            "not_measured": (
                f"too few sessions with a ground-truth intent on one platform ({', '.join(too_few)}; "
                f"each platform needs {MIN_PLATFORM_SESSIONS} before and after the time cutoff)"
            ),
            "sessions": counts,
        }
    n_train = min(counts[p]["train"] for p in PLATFORMS)
    rng = np.random.default_rng(seed)
    for p in PLATFORMS:
        if len(rows[p]["train"]) > n_train:
            rows[p]["train"] = np.sort(rng.choice(rows[p]["train"], size=n_train, replace=False))
    single_class = [p for p in PLATFORMS if len(np.unique(labels[rows[p]["train"]])) < 2]
    if single_class:
        return {"not_measured": f"the training sessions of {', '.join(single_class)} hold one intent only", "sessions": counts}

    train_classes = {p: set(labels[rows[p]["train"]].tolist()) for p in PLATFORMS}
    test_classes = {p: set(labels[rows[p]["test"]].tolist()) for p in PLATFORMS}
    result: dict = {
        "split": "one time cutoff (the probe's): train on sessions starting at or before it, test on those after",
        "scoring": (
            "macro-F1 over the classes present in the test platform's truth (a class the training platform "
            "never shows scores 0); accuracy over every test session"
        ),
        "sessions": {p: {"train": n_train, "test": counts[p]["test"], "train_available": counts[p]["train"]} for p in PLATFORMS},
        "test_sessions_by_class": {
            p: {str(c): int(n) for c, n in pd.Series(labels[rows[p]["test"]]).value_counts().sort_index().items()} for p in PLATFORMS
        },
        "test_classes_unseen_in_training": {
            cell: sorted(str(c) for c in test_classes[test] - train_classes[train]) for cell, (train, test) in CROSS_PLATFORM_CELLS.items()
        },
        "representations": {},
    }
    for name, features in representations.items():
        if isinstance(features, str):
            result["representations"][name] = {"not_measured": features}
            continue
        cells = {}
        for cell, (train, test) in CROSS_PLATFORM_CELLS.items():
            predicted = _fit_predict(features[rows[train]["train"]], labels[rows[train]["train"]], features[rows[test]["test"]], seed)
            cells[cell] = _score(labels[rows[test]["test"]], predicted)
        result["representations"][name] = {
            "n_features": int(features.shape[1]),
            **cells,
            "ratio_macro_f1": {
                f"{cross}_over_{within}": _ratio(cells[cross]["macro_f1"], cells[within]["macro_f1"])
                for cross, within in CROSS_OVER_WITHIN.items()
            },
            "ratio_accuracy": {
                f"{cross}_over_{within}": _ratio(cells[cross]["accuracy"], cells[within]["accuracy"])
                for cross, within in CROSS_OVER_WITHIN.items()
            },
        }
    result["target"] = _target(result["representations"].get("embedding"))
    return result


def _target(embedding: dict | None) -> dict:
    target = {"representation": "embedding", "metric": "macro_f1", "min_ratio": CROSS_PLATFORM_TARGET_RATIO}
    if embedding is None or "not_measured" in embedding:
        return {**target, "met": None, "not_measured": "no embedding in the probe"}
    ratios = list(embedding["ratio_macro_f1"].values())
    if any(r is None for r in ratios):
        return {**target, "met": None, "not_measured": "a within-platform macro-F1 is 0"}
    worst = min(ratios)
    return {**target, "measured_min_ratio": worst, "met": bool(worst >= CROSS_PLATFORM_TARGET_RATIO)}


# The probes' sample and split: at most this many sessions (a seeded sample keeps a large world's
# probe to seconds), the earliest share of them by start to train on.
PROBE_MAX_SESSIONS = 60_000
PROBE_TRAIN_SHARE = 0.7


@dataclass(frozen=True)
class ProbeSample:
    """The sessions a probe reads and its split (probe_sample)."""

    rows: np.ndarray  # positions in the frame, ascending
    sessions: pd.DataFrame  # those rows of the frame, reindexed from 0
    labels: np.ndarray  # each session's true intent
    train_mask: np.ndarray  # started by the cutoff: the probe's training part
    cutoff: pd.Timestamp


def probe_sample(
    frame: pd.DataFrame,
    ground_truth_dir: Path,
    train_share: float = PROBE_TRAIN_SHARE,
    max_sessions: int | None = PROBE_MAX_SESSIONS,
    seed: int = 7,
) -> ProbeSample:
    """The sessions with a ground-truth intent, a seeded random `max_sessions` of them on a large
    world, split by session start: the earliest `train_share` train, the rest test."""
    labels = session_labels(frame, ground_truth_dir)
    keep = frame["session_id"].isin(labels.index).to_numpy()
    if keep.sum() < 50:
        raise ValueError(f"only {int(keep.sum())} sessions have a ground-truth intent; the probe needs at least 50")
    rows = np.flatnonzero(keep)
    if max_sessions and len(rows) > max_sessions:
        rows = np.sort(np.random.default_rng(seed).choice(rows, size=max_sessions, replace=False))
    subset = frame.iloc[rows].reset_index(drop=True)
    start = pd.to_datetime(subset["session_start_ts"], utc=True)
    cutoff = start.quantile(train_share)
    return ProbeSample(rows, subset, labels.loc[subset["session_id"]].to_numpy(), (start <= cutoff).to_numpy(), cutoff)


def probe_embeddings(
    frame: pd.DataFrame,
    embeddings: np.ndarray,
    ground_truth_dir: Path,
    train_share: float = PROBE_TRAIN_SHARE,
    max_sessions: int | None = PROBE_MAX_SESSIONS,
    seed: int = 7,
    session_intents_path: Path | None = None,
) -> dict:
    """Probe report: the embedding against bag-of-taxonomy-node counts, same sessions, same split;
    and the cross-platform probe (`cross_platform`) of the embedding, the distilled intent
    distribution (read from `session_intents_path`, the taxonomy stage's session_intents.parquet)
    and the bag of nodes.

    `max_sessions` caps the probe (a seeded random sample) so that it stays a few seconds on a
    large world; the split is by time within the sample.
    """
    sample = probe_sample(frame, ground_truth_dir, train_share, max_sessions, seed)
    rows, subset, y, train_mask, cutoff = sample.rows, sample.sessions, sample.labels, sample.train_mask, sample.cutoff
    counts, _ = bag_of_nodes(subset)
    embedding_result = linear_probe(embeddings[rows], y, train_mask, seed)
    counts_result = linear_probe(counts, y, train_mask, seed)
    cross_platform = cross_platform_probe(
        {
            "embedding": embeddings[rows],
            "distilled_intent_distribution": distilled_intent_distribution(subset["session_id"], session_intents_path),
            "bag_of_taxonomy_nodes": counts,
        },
        y,
        subset["platform"].to_numpy(),
        train_mask,
        seed,
    )
    return {
        "label": "primary_intent of the true session holding most of the session's events",
        "split": f"by session start: earliest {train_share:.0%} train, rest test",
        "sessions": {"train": int(train_mask.sum()), "test": int((~train_mask).sum()), "classes": int(len(np.unique(y)))},
        "probe": "standardized features -> multinomial logistic regression (C=1); macro-F1 on the test part",
        "embedding": embedding_result.__dict__,
        "bag_of_taxonomy_nodes": counts_result.__dict__,
        "embedding_beats_bag_of_nodes": embedding_result.macro_f1 > counts_result.macro_f1,
        "cross_platform": {"time_cutoff": str(cutoff), **cross_platform},
    }
