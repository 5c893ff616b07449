"""Ranking metrics of the next-item protocol, on hand-computed examples."""

import numpy as np
import pytest

from clickintent.encoder.metrics import recall_mrr, target_ranks


def test_ranks_count_higher_scores_and_ties_against_the_model():
    # Column 0 is the padding item and never counts.
    scores = np.array(
        [
            [99.0, 0.9, 0.5, 0.1, 0.0],  # target 2 (0.5): one item above -> rank 2
            [99.0, 0.3, 0.3, 0.3, 0.3],  # target 4, all tied: pessimistic rank 4
            [99.0, 0.1, 0.2, 0.3, 0.4],  # target 4 is the best: rank 1
        ]
    )
    assert target_ranks(scores, np.array([2, 4, 4])).tolist() == [2, 4, 1]


def test_recall_and_mrr_at_cutoff():
    ranks = np.array([1, 2, 4, 25])
    result = recall_mrr(ranks, cutoff=20)
    assert result["recall@20"] == pytest.approx(3 / 4)
    assert result["mrr@20"] == pytest.approx((1 + 1 / 2 + 1 / 4 + 0) / 4)
    assert recall_mrr(ranks, cutoff=3) == {"recall@3": pytest.approx(2 / 4), "mrr@3": pytest.approx((1 + 1 / 2) / 4)}


def test_metrics_refuse_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        target_ranks(np.array([[0.0, np.nan, 1.0]]), np.array([2]))
    with pytest.raises(ValueError, match="n_predictions"):
        target_ranks(np.zeros((2, 3)), np.array([1]))
    with pytest.raises(ValueError, match="no predictions"):
        recall_mrr(np.array([]))
