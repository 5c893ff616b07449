"""Evaluation against the synthetic world's hidden intents. THE ONLY taxonomy module that reads
the ground truth (a test checks that no other one mentions it).

A mart session's true intent: its events' true sessions (ground_truth/event_sessions.parquet),
the one holding most of its events, and that true session's primary intent
(ground_truth/session_intents.parquet). Sessionization by inactivity can split or merge true
sessions; the majority rule is the honest mapping.

Scores are sklearn's adjusted mutual information (AMI): label names need not match intent
names, and chance agreement scores 0.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, adjusted_mutual_info_score, f1_score

from clickintent.features.partitioned_marts import mart_location, parquet_relation
from clickintent.settings import Settings


class GroundTruthMissing(FileNotFoundError):
    """The data directory has no ground truth (e.g. real data): nothing to evaluate against."""


def ground_truth_available(settings: Settings) -> bool:
    directory = settings.ground_truth_dir
    return (directory / "event_sessions.parquet").is_file() and (directory / "session_intents.parquet").is_file()


def true_session_intents(settings: Settings, sequences: Path | None = None) -> pd.DataFrame:
    """session_id, platform, true_intent: for every session of the mart (or `sequences`)."""
    if not ground_truth_available(settings):
        raise GroundTruthMissing(f"no ground truth under {settings.ground_truth_dir}: evaluation needs a synthetic world")
    sequences = sequences or mart_location(settings.marts_dir, "fct_session_sequences")
    with duckdb.connect() as connection:
        connection.execute(f"set threads = {int(settings.threads)}")
        return connection.execute(
            f"""
            with events as (
                select session_id, platform, unnest(event_ids) as event_id
                from {parquet_relation(sequences)}
            ),
            votes as (
                select events.session_id, events.platform, truth.true_session_id, count(*) as n_events
                from events
                join read_parquet($event_sessions) as truth using (event_id)
                group by all
            ),
            majority as (
                select session_id, platform, arg_max(true_session_id, n_events) as true_session_id
                from votes
                group by session_id, platform
            )
            select majority.session_id, majority.platform, intents.primary_intent as true_intent
            from majority
            join read_parquet($session_intents) as intents using (true_session_id)
            order by majority.session_id
            """,
            {
                "event_sessions": str(settings.ground_truth_dir / "event_sessions.parquet"),
                "session_intents": str(settings.ground_truth_dir / "session_intents.parquet"),
            },
        ).df()


def ami(truth: pd.Series, labels: pd.Series) -> float:
    return float(adjusted_mutual_info_score(truth.astype(str).to_numpy(), labels.astype(str).to_numpy()))


def score_labels(truth: pd.DataFrame, labels: pd.DataFrame, label_columns: dict[str, str]) -> dict[str, dict[str, float | int]]:
    """AMI of each label column against the true intent, over web sessions, app sessions and all
    (NaN where there are none).

    `truth`: session_id, platform, true_intent; `labels`: session_id and the label columns;
    `label_columns`: report name -> column.
    """
    joined = truth.merge(labels, on="session_id", how="inner")
    web = joined[joined["platform"] == "web"]
    app = joined[joined["platform"] == "app"]
    scores: dict[str, dict[str, float | int]] = {}
    for name, column in label_columns.items():
        scores[name] = {
            "ami_web": ami(web["true_intent"], web[column]) if len(web) else float("nan"),
            "ami_app": ami(app["true_intent"], app[column]) if len(app) else float("nan"),
            "ami_all": ami(joined["true_intent"], joined[column]) if len(joined) else float("nan"),
            "n_web_sessions": int(len(web)),
            "n_app_sessions": int(len(app)),
            "n_sessions": int(len(joined)),
            "n_labels": int(joined[column].nunique()),
        }
    return scores


def agreement(teacher: np.ndarray, student: np.ndarray) -> dict[str, float]:
    """How well the student reproduces the teacher's labels (accuracy, macro-F1)."""
    return {
        "accuracy": float(accuracy_score(teacher, student)),
        "macro_f1": float(f1_score(teacher, student, average="macro", zero_division=0)),
    }
