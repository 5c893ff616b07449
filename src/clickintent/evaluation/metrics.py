"""The evaluation table's metrics, defined once for the ablation, the model cards and the report.

Tile ranking (rows = tiles shown, grouped by impression):
- macro Recall@1: over impressions with a clicked tile, the share where the model ranks the
  clicked product first among the tiles shown, computed per clicked product and averaged over
  products (tile classes), so popular products do not dominate. A hit needs the clicked tile's
  score strictly above every other tile's (a tie at the top is a miss), so a constant model
  scores 0.
- LogLoss: binary cross-entropy of the click probability of every tile shown.

Conversion by product family (rows = customer observations):
- micro-F1: multi-label F1 over the product families (a row's true set = the families it
  converted to in the window; 'none' is the empty set), pooling true/false positives over
  families. Trivially predicting 'none' everywhere scores 0, unlike accuracy.
- AUC: macro one-vs-rest ROC AUC over families (mean over families with both classes present of
  the AUC of P(family)); the AUC of P(any conversion) is reported beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, log_loss, roc_auc_score

PROBABILITY_FLOOR = 1e-7


def tile_macro_recall_at_1(
    impression_ids: Sequence[Any], product_ids: Sequence[Any], clicked: Sequence[bool], scores: Sequence[float]
) -> dict[str, Any]:
    """Macro Recall@1 over clicked products, with the per-product figures and counts."""
    frame = pd.DataFrame(
        {
            "impression": np.asarray(impression_ids),
            "product": np.asarray(product_ids),
            "clicked": np.asarray(clicked, dtype=bool),
            "score": np.asarray(scores, dtype=np.float64),
        }
    )
    with_click = frame.groupby("impression", sort=False)["clicked"].transform("any")
    frame = frame[with_click]
    if frame.empty:
        return {"macro_recall_at_1": float("nan"), "micro_recall_at_1": float("nan"), "impressions": 0, "per_product": {}}
    best_other = frame.assign(other=np.where(frame["clicked"], -np.inf, frame["score"])).groupby("impression", sort=False)["other"].max()
    hits = frame[frame["clicked"]].drop_duplicates("impression").set_index("impression")
    hits["hit"] = hits["score"] > best_other.reindex(hits.index).to_numpy()
    per_product = hits.groupby("product")["hit"].agg(["mean", "size"])
    return {
        "macro_recall_at_1": float(per_product["mean"].mean()),
        "micro_recall_at_1": float(hits["hit"].mean()),
        "impressions": int(len(hits)),
        "per_product": {
            str(product): {"recall_at_1": float(row["mean"]), "impressions": int(row["size"])} for product, row in per_product.iterrows()
        },
    }


def binary_logloss(labels: Sequence[int], probabilities: Sequence[float]) -> float:
    p = np.clip(np.asarray(probabilities, dtype=np.float64), PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)
    return float(log_loss(np.asarray(labels, dtype=np.int8), p, labels=[0, 1]))


def multilabel_micro_f1(true_sets: np.ndarray, predicted_sets: np.ndarray) -> float:
    """Micro-F1 of (rows, families) 0/1 indicator matrices."""
    return float(f1_score(true_sets, predicted_sets, average="micro", zero_division=0))


def macro_ovr_auc(true_sets: np.ndarray, probabilities: np.ndarray) -> tuple[float, dict[int, float]]:
    """Mean one-vs-rest AUC over columns that have both classes; the per-column AUCs."""
    per_column: dict[int, float] = {}
    for column in range(true_sets.shape[1]):
        truth = true_sets[:, column]
        if 0 < truth.sum() < len(truth):
            per_column[column] = float(roc_auc_score(truth, probabilities[:, column]))
    return (float(np.mean(list(per_column.values()))) if per_column else float("nan")), per_column


def best_global_threshold(true_sets: np.ndarray, probabilities: np.ndarray, grid: np.ndarray | None = None) -> float:
    """The probability threshold (one for all families) that maximises micro-F1 on these rows."""
    grid = np.round(np.arange(0.02, 0.96, 0.01), 2) if grid is None else grid
    best, best_f1 = 0.5, -1.0
    for threshold in grid:
        f1 = multilabel_micro_f1(true_sets, (probabilities >= threshold).astype(np.int8))
        if f1 > best_f1:
            best, best_f1 = float(threshold), f1
    return best


def relative_change(value: float, baseline: float) -> float | None:
    """(value - baseline) / |baseline|, or None when undefined."""
    if baseline is None or value is None or not np.isfinite(baseline) or not np.isfinite(value) or baseline == 0:
        return None
    return float((value - baseline) / abs(baseline))


def calibration_bins(labels: Sequence[int], probabilities: Sequence[float], bins: int = 10) -> list[dict[str, float]]:
    """Reliability diagram data over equal-count bins of predicted probability."""
    frame = pd.DataFrame({"y": np.asarray(labels, dtype=float), "p": np.asarray(probabilities, dtype=float)}).sort_values("p")
    out = []
    for rows in np.array_split(np.arange(len(frame)), bins):
        chunk = frame.iloc[rows]
        if len(chunk):
            out.append({"mean_predicted": float(chunk["p"].mean()), "observed_rate": float(chunk["y"].mean()), "rows": int(len(chunk))})
    return out


def lift_by_decile(labels: Sequence[int], scores: Sequence[float], bins: int = 10) -> list[dict[str, float]]:
    """Positive rate and lift per score decile (highest first), and cumulative capture."""
    frame = pd.DataFrame({"y": np.asarray(labels, dtype=float), "s": np.asarray(scores, dtype=float)})
    frame = frame.sample(frac=1.0, random_state=0).sort_values("s", ascending=False, kind="stable")
    base = frame["y"].mean()
    total = frame["y"].sum()
    out, captured = [], 0.0
    for index, rows in enumerate(np.array_split(np.arange(len(frame)), bins)):
        chunk = frame.iloc[rows]
        captured += chunk["y"].sum()
        rate = float(chunk["y"].mean()) if len(chunk) else float("nan")
        out.append(
            {
                "decile": index + 1,
                "positive_rate": rate,
                "lift": rate / base if base else float("nan"),
                "cumulative_capture": float(captured / total) if total else float("nan"),
            }
        )
    return out


# ---------------------------------------------------------------------------------------------
# paired bootstrap over test units (impressions for tiles, observations for conversion)
#
# Resampling units with replacement is the same as giving each unit a multinomial count as its
# weight; every metric below is a ratio of weighted sums, so one (resamples, units) weight matrix
# evaluates all resamples at once. Two ablation rows are compared on the same weights (paired):
# the interval is of the difference the feature set makes, not of the test sample's luck.

BOOTSTRAP_RESAMPLES = 1000


def bootstrap_weights(units: int, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 7) -> np.ndarray:
    """(resamples, units) counts: how often each unit is drawn in each resample."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(units, np.full(units, 1.0 / units), size=resamples).astype(np.float32)


class TileTestUnits:
    """Per-impression sums behind tile LogLoss and macro Recall@1, for weighted recomputation.

    `impression_codes` must come from the same test frame for every row compared (pd.factorize of
    its impression ids), so that unit i is the same impression in both.
    """

    def __init__(
        self,
        impression_codes: np.ndarray,
        product_ids: Sequence[Any] | np.ndarray,
        clicked: Sequence[bool] | np.ndarray,
        serving_scores: Sequence[float] | np.ndarray,
        logged_probabilities: Sequence[float] | np.ndarray,
    ):
        codes = np.asarray(impression_codes)
        units = int(codes.max()) + 1 if len(codes) else 0
        y = np.asarray(clicked, dtype=bool)
        p = np.clip(np.asarray(logged_probabilities, dtype=np.float64), PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)
        losses = -(y * np.log(p) + (~y) * np.log1p(-p))
        self.loss_sum = np.bincount(codes, weights=losses, minlength=units)
        self.rows = np.bincount(codes, minlength=units).astype(np.float64)
        # Recall@1 as tile_macro_recall_at_1 defines it: the first clicked tile of an impression
        # is a hit when its score is strictly above every unclicked tile's.
        scores = np.asarray(serving_scores, dtype=np.float64)
        best_other = np.full(units, -np.inf)
        np.maximum.at(best_other, codes[~y], scores[~y])
        clicked_rows = np.flatnonzero(y)
        first = clicked_rows[np.unique(codes[clicked_rows], return_index=True)[1]]
        products = np.asarray(product_ids, dtype=object)
        product_codes, self.products = pd.factorize(pd.Series(products[first]), sort=True)
        self.clicked_units = codes[first]
        self.clicked_product = product_codes
        self.hit = (scores[first] > best_other[codes[first]]).astype(np.float64)

    def logloss(self, weights: np.ndarray) -> np.ndarray:
        return (weights @ self.loss_sum) / (weights @ self.rows)

    def macro_recall_at_1(self, weights: np.ndarray) -> np.ndarray:
        """Per resample: the mean over clicked products (present in the resample) of their recall."""
        w = weights[:, self.clicked_units]  # (resamples, clicked impressions)
        n_products = len(self.products)
        hits = np.zeros((w.shape[0], n_products))
        counts = np.zeros((w.shape[0], n_products))
        for product in range(n_products):
            columns = self.clicked_product == product
            counts[:, product] = w[:, columns].sum(axis=1)
            hits[:, product] = w[:, columns] @ self.hit[columns]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.nanmean(np.where(counts > 0, hits / counts, np.nan), axis=1)


class ConversionTestUnits:
    """Per-observation true/false positives and false negatives behind multi-label micro-F1."""

    def __init__(self, true_sets: np.ndarray, predicted_sets: np.ndarray):
        truth = np.asarray(true_sets, dtype=bool)
        predicted = np.asarray(predicted_sets, dtype=bool)
        self.tp = (truth & predicted).sum(axis=1).astype(np.float64)
        self.fp = (~truth & predicted).sum(axis=1).astype(np.float64)
        self.fn = (truth & ~predicted).sum(axis=1).astype(np.float64)

    def micro_f1(self, weights: np.ndarray) -> np.ndarray:
        tp, fp, fn = weights @ self.tp, weights @ self.fp, weights @ self.fn
        denominator = 2 * tp + fp + fn
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denominator > 0, 2 * tp / denominator, 0.0)


def relative_change_interval(values: np.ndarray, baseline: np.ndarray, level: float = 0.95) -> list[float] | None:
    """Central `level` interval of (values - baseline) / |baseline| over paired resamples."""
    with np.errstate(invalid="ignore", divide="ignore"):
        change = (values - baseline) / np.abs(baseline)
    change = change[np.isfinite(change)]
    if len(change) == 0:
        return None
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(change, [tail, 100 - tail])
    return [round(float(low), 6), round(float(high), 6)]


class CandidateRankingTestUnits:
    """Per-unit ranking of a fixed candidate set (the anonymous ranker: one session, seven product
    families), behind Recall@k, NDCG@k and the pooled AUC, for weighted recomputation.

    `truth` and `scores` are (units, candidates). Recall@k of a unit: the share of its true
    candidates among its k best-scored ones; NDCG@k: binary-relevance DCG of its k best over the
    best possible. Both are averaged over units with at least one true candidate (the others
    have nothing to find). Ties keep candidate order. AUC: ROC AUC of every (unit, candidate)
    score against its truth, pooled over all units; a resample weights a unit's candidates by
    the unit's count.
    """

    def __init__(self, truth: np.ndarray, scores: np.ndarray):
        truth = np.asarray(truth, dtype=bool)
        scores = np.asarray(scores, dtype=np.float64)
        if truth.shape != scores.shape or truth.ndim != 2:
            raise ValueError(f"truth {truth.shape} and scores {scores.shape} must be the same (units, candidates) shape")
        order = np.argsort(-scores, axis=1, kind="stable")
        self.ranked_truth = np.take_along_axis(truth, order, axis=1).astype(np.float64)
        self.n_true = truth.sum(axis=1).astype(np.float64)
        self.has_truth = (self.n_true > 0).astype(np.float64)
        self.discounts = 1.0 / np.log2(np.arange(2, truth.shape[1] + 2))
        units, candidates = truth.shape
        self.row_unit = np.repeat(np.arange(units), candidates)
        flat_scores, self.row_truth = scores.reshape(-1), truth.reshape(-1)
        # Tie groups of the pooled scores, lowest first: AUC counts a tie as half.
        _, self.row_group = np.unique(flat_scores, return_inverse=True)
        self.groups = int(self.row_group.max()) + 1 if len(self.row_group) else 0

    def _per_unit_mean(self, values: np.ndarray, weights: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return (weights @ values) / (weights @ self.has_truth)

    def recall_at(self, k: int, weights: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            recall = np.where(self.n_true > 0, self.ranked_truth[:, :k].sum(axis=1) / np.maximum(self.n_true, 1), 0.0)
        return self._per_unit_mean(recall, weights)

    def ndcg_at(self, k: int, weights: np.ndarray) -> np.ndarray:
        dcg = self.ranked_truth[:, :k] @ self.discounts[:k]
        ideal_cumulative = np.concatenate([[0.0], np.cumsum(self.discounts[:k])])
        ideal = ideal_cumulative[np.minimum(self.n_true, k).astype(np.intp)]
        ndcg = np.where(ideal > 0, dcg / np.where(ideal > 0, ideal, 1.0), 0.0)
        return self._per_unit_mean(ndcg, weights)

    def auc(self, weights: np.ndarray) -> np.ndarray:
        """Per resample (row of `weights`): the weighted pooled ROC AUC; NaN without both classes."""
        out = np.full(weights.shape[0], np.nan)
        positive = self.row_truth
        for index, unit_weights in enumerate(weights):
            row_weights = unit_weights[self.row_unit]
            positives = np.bincount(self.row_group, weights=row_weights * positive, minlength=self.groups)
            negatives = np.bincount(self.row_group, weights=row_weights * ~positive, minlength=self.groups)
            total_positive, total_negative = positives.sum(), negatives.sum()
            if total_positive > 0 and total_negative > 0:
                below = np.cumsum(negatives) - negatives
                out[index] = float(positives @ (below + 0.5 * negatives)) / (total_positive * total_negative)
        return out
