"""Vectorised sampling and grouping helpers shared by the generators.

Everything works on flat arrays in which a group (a visitor's sessions, a session's events)
is a contiguous run, so per-group work is a repeat, a cumsum or a searchsorted rather than a
Python loop.
"""

from __future__ import annotations

import numpy as np


class RowSampler:
    """Draw one column index per request from the categorical distribution in a given row.

    All rows' CDFs are stacked into one increasing array (row r shifted by r), so a single
    searchsorted serves any mix of rows.
    """

    def __init__(self, weights: np.ndarray):
        weights = np.asarray(weights, dtype=np.float64)
        if weights.ndim != 2 or (weights < 0).any():
            raise ValueError("weights must be a non-negative matrix")
        totals = weights.sum(axis=1, keepdims=True)
        if (totals <= 0).any():
            raise ValueError("every row needs some positive weight")
        cdf = np.cumsum(weights / totals, axis=1)
        cdf[:, -1] = 1.0
        self.n_rows, self.n_cols = weights.shape
        self._flat = (cdf + np.arange(self.n_rows)[:, None]).ravel()

    def draw(self, rng: np.random.Generator, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        position = np.searchsorted(self._flat, rows + rng.random(len(rows)), side="right")
        return np.clip(position - rows * self.n_cols, 0, self.n_cols - 1)


def categorical(rng: np.random.Generator, n: int, weights) -> np.ndarray:
    """n draws from one categorical distribution."""
    weights = np.asarray(weights, dtype=np.float64)
    cdf = np.cumsum(weights) / weights.sum()
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(weights) - 1)


def group_starts(counts: np.ndarray) -> np.ndarray:
    """Start offset of each group in the flat array, given the group sizes."""
    starts = np.zeros(len(counts), dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    return starts


def index_within_group(counts: np.ndarray) -> np.ndarray:
    """0, 1, ... inside each group, for the flat array of all groups."""
    total = int(counts.sum())
    return np.arange(total, dtype=np.int64) - np.repeat(group_starts(counts), counts)


def exclusive_cumsum_within(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Sum of the preceding values of the same group (0 for each group's first element)."""
    running = np.cumsum(values, dtype=np.int64) - values
    # Pad so that empty groups at the end have a valid (unused) start.
    padded = np.append(running, 0)
    return running - np.repeat(padded[group_starts(counts)], counts)


def rank_within_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each element: its rank among equal keys (in array order) and how many share its key."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    boundary = np.ones(len(keys), dtype=bool)
    boundary[1:] = sorted_keys[1:] != sorted_keys[:-1]
    group = np.cumsum(boundary) - 1
    starts = np.flatnonzero(boundary)
    sizes = np.diff(np.append(starts, len(keys)))
    rank_sorted = np.arange(len(keys)) - starts[group]
    rank = np.empty(len(keys), dtype=np.int64)
    rank[order] = rank_sorted
    count = np.empty(len(keys), dtype=np.int64)
    count[order] = sizes[group]
    return rank, count


def push_apart(group: np.ndarray, start: np.ndarray, duration: np.ndarray, min_gap: np.ndarray | int) -> np.ndarray:
    """Shift starts later, as little as needed, so each run starts >= min_gap after the previous ends.

    Arrays are sorted by (group, start). Solves s'_i = max(s_i, s'_{i-1} + d_{i-1} + g) in closed
    form: with c_i the sum of (d + g) before i in the group, s'_i - c_i is the running maximum of
    s_i - c_i, computed for all groups at once by lifting each group above the previous one.
    """
    n = len(start)
    if n == 0:
        return start.copy()
    step = duration.astype(np.int64) + np.asarray(min_gap, dtype=np.int64)
    counts = np.bincount(np.searchsorted(np.unique(group), group))
    before = exclusive_cumsum_within(step, counts)
    slack = start.astype(np.int64) - before
    low = int(slack.min())
    span = int(slack.max()) - low + 1
    group_rank = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    if span * len(counts) >= 2**62:
        raise OverflowError("too many groups for one push_apart call; use smaller chunks")
    lifted = (slack - low) + group_rank * span
    running = np.maximum.accumulate(lifted) - group_rank * span + low
    return running + before
