"""AMI of distilled labels per platform: app sessions scored alone, beside web and all."""

from __future__ import annotations

import math

import pandas as pd

from clickintent.taxonomy.evaluation import score_labels


def _truth_and_labels(app_labels: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    intents = ["loan", "loan", "savings", "savings"]
    truth = pd.DataFrame(
        {
            "session_id": [f"w{i}" for i in range(4)] + [f"a{i}" for i in range(4)],
            "platform": ["web"] * 4 + ["app"] * 4,
            "true_intent": intents * 2,
        }
    )
    labels = pd.DataFrame({"session_id": truth["session_id"], "node": ["n_loan", "n_loan", "n_sav", "n_sav", *app_labels]})
    return truth, labels


def test_app_sessions_are_scored_alone_so_a_taxonomy_that_fails_on_app_shows_it():
    # Web labels match the intents; every app session gets one node, as when all app screens
    # fall in one cluster: app AMI is 0 while web is 1 and all lies between.
    truth, labels = _truth_and_labels(["n_app"] * 4)
    scores = score_labels(truth, labels, {"distilled": "node"})["distilled"]
    assert scores["ami_web"] == 1.0 and scores["ami_app"] == 0.0
    assert 0.0 < scores["ami_all"] < 1.0
    assert scores["n_web_sessions"] == 4 and scores["n_app_sessions"] == 4 and scores["n_sessions"] == 8

    truth, labels = _truth_and_labels(["n_loan", "n_loan", "n_sav", "n_sav"])
    assert score_labels(truth, labels, {"distilled": "node"})["distilled"]["ami_app"] == 1.0


def test_no_app_sessions_scores_nan_not_zero():
    truth, labels = _truth_and_labels(["n_loan", "n_loan", "n_sav", "n_sav"])
    web_only = truth[truth["platform"] == "web"]
    scores = score_labels(web_only, labels, {"distilled": "node"})["distilled"]
    assert math.isnan(scores["ami_app"]) and scores["n_app_sessions"] == 0 and scores["ami_web"] == 1.0
