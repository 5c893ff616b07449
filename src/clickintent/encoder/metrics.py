"""Ranking metrics of the next-item protocol: Recall@K and MRR@K over all items.

Ties are broken against the model (pessimistic): the target's rank is 1 + the number of other
items whose score is greater than or equal to its own. A model that scores everything equal
therefore gets rank n_items, never rank 1.
"""

from __future__ import annotations

import numpy as np


def target_ranks(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """1-based rank of each target among the columns of `scores` (one row per prediction).

    Column 0 is the padding item and never counts. NaN scores are an error, not a low score.
    """
    scores = np.asarray(scores, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.int64)
    if scores.ndim != 2 or scores.shape[0] != targets.shape[0]:
        raise ValueError(f"scores must be (n_predictions, n_items + 1); got {scores.shape} for {targets.shape[0]} targets")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN")
    target_scores = scores[np.arange(len(targets)), targets]
    at_least = scores[:, 1:] >= target_scores[:, None]
    # The target itself is among the ">=" items, so this count is already 1 + the others.
    return at_least.sum(axis=1)


def recall_mrr(ranks: np.ndarray, cutoff: int = 20) -> dict[str, float]:
    ranks = np.asarray(ranks)
    if ranks.size == 0:
        raise ValueError("no predictions to score")
    hit = ranks <= cutoff
    return {
        f"recall@{cutoff}": float(hit.mean()),
        f"mrr@{cutoff}": float(np.where(hit, 1.0 / ranks, 0.0).mean()),
    }
