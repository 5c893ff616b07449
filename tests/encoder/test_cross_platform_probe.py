"""The cross-platform intent probe: its cells, its class rule, and what it says when
something is missing, on hand-made features whose answer is known."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from clickintent.encoder.evaluate import (
    CROSS_PLATFORM_CELLS,
    _score,
    cross_platform_probe,
    distilled_intent_distribution,
)


def _world(n_per_class: int = 60, seed: int = 0):
    """Two intents on each platform, separable on each; `aligned` puts an app intent where web has
    it, `swapped` puts it where web has the other intent. Web also has a third intent, `web_only`."""
    rng = np.random.default_rng(seed)
    centre = {"loan": -3.0, "savings": 3.0, "web_only": 9.0}
    labels, platforms, aligned, swapped = [], [], [], []
    for platform, intents in (("web", ("loan", "savings", "web_only")), ("app", ("loan", "savings"))):
        for intent in intents:
            noise = rng.normal(0.0, 0.5, size=(n_per_class, 2))
            here = np.column_stack([np.full(n_per_class, centre[intent]), np.zeros(n_per_class)]) + noise
            elsewhere = here.copy()
            if platform == "app":
                elsewhere[:, 0] = -elsewhere[:, 0]
            labels += [intent] * n_per_class
            platforms += [platform] * n_per_class
            aligned.append(here)
            swapped.append(elsewhere)
    labels, platforms = np.array(labels, dtype=object), np.array(platforms)
    # Time order within each platform and intent is random: the first 70 % train.
    train_mask = rng.random(len(labels)) < 0.7
    return labels, platforms, np.vstack(aligned), np.vstack(swapped), train_mask


def test_swapped_app_sessions_fail_across_platforms_and_pass_within():
    labels, platforms, aligned, swapped, train_mask = _world()
    result = cross_platform_probe({"embedding": swapped, "aligned": aligned}, labels, platforms, train_mask)

    shifted = result["representations"]["embedding"]
    assert shifted["within_web"]["macro_f1"] == 1.0 and shifted["within_app"]["macro_f1"] == 1.0
    # Every app session lands where web keeps the other intent: nothing transfers.
    assert shifted["web_to_app"]["macro_f1"] == 0.0 and shifted["web_to_app"]["accuracy"] == 0.0
    assert shifted["ratio_macro_f1"]["web_to_app_over_within_app"] == 0.0
    assert result["target"]["met"] is False and result["target"]["measured_min_ratio"] < 0.9

    same_space = result["representations"]["aligned"]
    assert same_space["web_to_app"]["macro_f1"] == 1.0
    assert same_space["ratio_macro_f1"]["web_to_app_over_within_app"] == 1.0


def test_a_class_one_platform_lacks_counts_only_where_the_test_platform_has_it():
    labels, platforms, aligned, _, train_mask = _world()
    result = cross_platform_probe({"embedding": aligned}, labels, platforms, train_mask)
    cells = result["representations"]["embedding"]
    # web_to_app: scored over the app truth's classes, so web_only (never in app) adds no term.
    assert set(cells["web_to_app"]["f1_by_class"]) == {"loan", "savings"}
    assert cells["web_to_app"]["macro_f1"] == 1.0
    # app_to_web: web_only is in the web truth but app never trains on it: it scores 0.
    assert cells["app_to_web"]["f1_by_class"]["web_only"] == 0.0
    assert np.isclose(cells["app_to_web"]["macro_f1"], np.mean(list(cells["app_to_web"]["f1_by_class"].values())), atol=1e-4)
    assert cells["app_to_web"]["macro_f1"] < 0.7
    assert result["test_classes_unseen_in_training"]["app_to_web"] == ["web_only"]
    assert result["test_classes_unseen_in_training"]["web_to_app"] == []
    # The target is the lower of the two ratios.
    assert result["target"]["measured_min_ratio"] == min(cells["ratio_macro_f1"].values())


def test_both_platforms_train_on_as_many_sessions_and_cross_cells_share_the_within_test_sessions():
    labels, platforms, aligned, _, train_mask = _world()
    result = cross_platform_probe({"embedding": aligned}, labels, platforms, train_mask)
    web, app = result["sessions"]["web"], result["sessions"]["app"]
    assert web["train"] == app["train"] == min(web["train_available"], app["train_available"])
    assert app["test"] == int(((platforms == "app") & ~train_mask).sum())
    assert sum(result["test_sessions_by_class"]["app"].values()) == app["test"]
    assert set(result["representations"]["embedding"]) >= set(CROSS_PLATFORM_CELLS)
    json.dumps(result)  # the report is plain JSON


def test_macro_f1_ignores_predicted_classes_absent_from_the_truth():
    scores = _score(np.array(["a", "a", "b", "b"]), np.array(["a", "c", "b", "b"]))
    # F1(a) = 2/3, F1(b) = 1; sklearn's default would add F1(c) = 0 as a third term.
    assert np.isclose(scores["macro_f1"], (2 / 3 + 1) / 2)
    assert scores["accuracy"] == 0.75 and set(scores["f1_by_class"]) == {"a", "b"}


def test_no_app_sessions_is_reported_not_measured():
    labels, platforms, aligned, _, train_mask = _world()
    web = platforms == "web"
    result = cross_platform_probe({"embedding": aligned[web]}, labels[web], platforms[web], train_mask[web])
    assert "not_measured" in result and "app train 0" in result["not_measured"]
    assert result["sessions"]["app"] == {"train": 0, "test": 0}


def test_a_representation_that_is_missing_is_named_not_measured(tmp_path):
    labels, platforms, aligned, _, train_mask = _world()
    sessions = pd.Series([f"s{i}" for i in range(len(labels))])
    missing = distilled_intent_distribution(sessions, tmp_path / "session_intents.parquet")
    assert missing.startswith("not measured") and "session_intents.parquet not found" in missing

    pd.DataFrame({"session_id": sessions[:10], "intent_top_node_probs": [[0.5, 0.5]] * 10}).to_parquet(tmp_path / "partial.parquet")
    partial = distilled_intent_distribution(sessions, tmp_path / "partial.parquet")
    assert f"{len(labels) - 10} of the probe's {len(labels)} sessions have no row" in partial

    stored = pd.DataFrame({"session_id": sessions[::-1], "intent_top_node_probs": list(aligned[::-1].astype(np.float32))})
    stored.to_parquet(tmp_path / "full.parquet")
    assert np.allclose(distilled_intent_distribution(sessions, tmp_path / "full.parquet"), aligned)  # in the probe's order

    result = cross_platform_probe({"embedding": aligned, "distilled": missing}, labels, platforms, train_mask)
    assert result["representations"]["distilled"] == {"not_measured": missing}
    assert result["target"]["met"] is not None  # the embedding is measured whatever the other representations lack
