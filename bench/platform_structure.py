"""How much of the session embedding is the platform: the figures behind docs/measurements.md
("Why the embedding stays organised by platform").

Needs a data directory where the encoder has embedded every session (`clickintent encoder
embed`) and the synthetic world's ground truth. Reports:

- inputs: page ids, event types, taxonomy nodes and top nodes each platform uses, how many both
  use and the share of each platform's events on shared ids;
- embedding: a logistic probe for the platform (30,000 sessions train, 10,000 test, seeded), the
  share of the embedding's variance the two platform means explain, the distance between them
  against a web intent centroid's mean distance from the web mean; after removing each
  platform's mean, for how many intents the app centroid is nearest the same web intent's;
- post hoc: the cross-platform probe (encoder.evaluate, same split and sample) on the embedding
  centered, and standardized, on each platform's own training statistics.

Prints the figures and writes JSON to <data dir>/reports/bench_platform_structure.json.

    python bench/platform_structure.py [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from clickintent.artifacts import atomic_write_json
from clickintent.encoder.evaluate import PLATFORMS, cross_platform_probe, probe_sample, session_labels
from clickintent.settings import load_settings

PROBE_TRAIN, PROBE_TEST = 30_000, 10_000
MIN_CENTROID_SESSIONS = 30  # an intent with fewer sessions on a platform has no centroid there


def input_sharing(frame: pd.DataFrame) -> dict:
    platform = frame["platform"].to_numpy()
    result = {}
    for column in ("page_paths", "event_types", "taxonomy_node_ids", "top_taxonomy_node_ids"):
        counts = {p: Counter(v for row in frame.loc[platform == p, column] for v in row) for p in PLATFORMS}
        shared = set(counts["web"]) & set(counts["app"])
        result[column] = {
            **{f"{p}_ids": len(counts[p]) for p in PLATFORMS},
            "shared_ids": len(shared),
            **{f"{p}_events_on_shared": round(sum(counts[p][k] for k in shared) / sum(counts[p].values()), 4) for p in PLATFORMS},
            "event_types": {p: dict(counts[p].most_common()) for p in PLATFORMS} if column == "event_types" else None,
        }
    return result


def platform_structure(embeddings: np.ndarray, platform: np.ndarray, labels: np.ndarray, seed: int) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    mean = embeddings.mean(0)
    between = sum((platform == p).sum() * ((embeddings[platform == p].mean(0) - mean) ** 2).sum() for p in PLATFORMS)
    order = np.random.default_rng(seed).permutation(len(embeddings))
    train, test = order[:PROBE_TRAIN], order[PROBE_TRAIN : PROBE_TRAIN + PROBE_TEST]
    with threadpool_limits(limits=1):
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(embeddings[train], platform[train])
        accuracy = probe.score(embeddings[test], platform[test])
    labelled = labels != None  # noqa: E711 - an object array: None marks a session without a true intent
    centered = embeddings.copy()
    for p in PLATFORMS:
        centered[platform == p] -= embeddings[labelled & (platform == p)].mean(0)
    centroids = {
        p: {
            c: centered[(platform == p) & (labels == c)].mean(0)
            for c in sorted(set(labels[labelled]))
            if ((platform == p) & (labels == c)).sum() >= MIN_CENTROID_SESSIONS
        }
        for p in PLATFORMS
    }

    def cosine(a, b):
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    own, nearest_other = [], []
    for intent, app_centroid in centroids["app"].items():
        if intent in centroids["web"]:
            own.append(cosine(app_centroid, centroids["web"][intent]))
            nearest_other.append(max(cosine(app_centroid, v) for c, v in centroids["web"].items() if c != intent))
    return {
        "platform_probe_accuracy": round(float(accuracy), 4),
        "platform_variance_share": round(float(between / ((embeddings - mean) ** 2).sum()), 4),
        "distance_between_platform_means": round(
            float(np.linalg.norm(embeddings[platform == "web"].mean(0) - embeddings[platform == "app"].mean(0))), 3
        ),
        "mean_distance_web_intent_centroid_to_web_mean": round(float(np.mean([np.linalg.norm(v) for v in centroids["web"].values()])), 3),
        "app_intents_nearest_their_web_intent": f"{sum(o > n for o, n in zip(own, nearest_other))} of {len(own)}",
        "cosine_app_to_same_web_intent_median": round(float(np.median(own)), 3),
        "cosine_app_to_nearest_other_web_intent_median": round(float(np.median(nearest_other)), 3),
    }


def post_hoc_probe(frame: pd.DataFrame, by_id: dict, ground_truth: Path, seed: int) -> dict:
    """The cross-platform probe's sample and split (encoder.evaluate.probe_sample) on the
    embedding as stored, centered per platform, standardized per platform."""
    sample = probe_sample(frame, ground_truth, seed=seed)
    x = np.stack([np.asarray(by_id[s], np.float32) for s in sample.sessions["session_id"]])
    y, platform, train = sample.labels, sample.sessions["platform"].to_numpy(), sample.train_mask
    centered, standardized = x.copy(), x.copy()
    for p in PLATFORMS:
        fitted = (platform == p) & train
        centered[platform == p] -= x[fitted].mean(0)
        standardized[platform == p] = (x[platform == p] - x[fitted].mean(0)) / x[fitted].std(0).clip(1e-6)
    result = cross_platform_probe(
        {"stored": x, "centered_per_platform": centered, "standardized_per_platform": standardized}, y, platform, train, seed
    )
    return {name: {k: r[k] for k in ("ratio_macro_f1",)} for name, r in result["representations"].items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    settings = load_settings(data_dir=args.data_dir)
    from clickintent.encoder.paths import EncoderPaths

    paths = EncoderPaths(settings)
    frame = pd.read_parquet(paths.sequences)
    stored = pd.read_parquet(paths.session_embeddings, columns=["session_id", "embedding"])
    by_id = dict(zip(stored["session_id"], stored["embedding"]))
    embeddings = np.stack([np.asarray(by_id[s], np.float32) for s in frame["session_id"]])
    labels_by_id = session_labels(frame, paths.ground_truth_dir)
    labels = frame["session_id"].map(labels_by_id).astype(object).where(frame["session_id"].isin(labels_by_id.index), None).to_numpy()
    report = {
        "data_dir": str(settings.data_dir),
        "inputs": input_sharing(frame),
        "embedding": platform_structure(embeddings, frame["platform"].to_numpy(), labels, args.seed),
        "post_hoc_cross_platform_probe": post_hoc_probe(frame, by_id, paths.ground_truth_dir, args.seed),
    }
    print(json.dumps({k: v for k, v in report.items() if k != "inputs"}, indent=2))
    for column, figures in report["inputs"].items():
        print(column, {k: v for k, v in figures.items() if k != "event_types"})
    out = settings.reports_dir / "bench_platform_structure.json"
    atomic_write_json(out, report)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
