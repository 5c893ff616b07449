"""Next-item baselines for the click benchmark, all scoring every training item.

- popularity: training click counts;
- in-session popularity: how often the item was clicked in the current prefix, then popularity
  (session-rec's SessionPop);
- first-order Markov: item-to-item transition counts between consecutive training clicks, from the
  prefix's last item;
- session kNN (SKNN) and vector session kNN (V-SKNN) after Ludewig & Jannach (2018, "Evaluation of
  session-based recommendation algorithms"): neighbours are the most recent `sample_size` training
  sessions sharing an item with the prefix, the `k` most similar of them vote for their items.

Every model breaks its ties by popularity (a term too small to reorder anything else), so the
pessimistic tie rule of the metrics does not punish a model for leaving items at zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from clickintent.encoder.clicks import ClickSessions, Prefixes


class NextItemModel:
    """Interface: fit on training sessions, then score a batch of test prefixes."""

    name: str = "model"

    def fit(self, train: ClickSessions, n_items: int) -> NextItemModel:
        raise NotImplementedError

    def score(self, test: ClickSessions, prefixes: Prefixes) -> np.ndarray:
        """(len(prefixes), n_items + 1) scores; column 0 is padding and is ignored."""
        raise NotImplementedError


def _popularity(train: ClickSessions, n_items: int) -> np.ndarray:
    return np.bincount(train.items, minlength=n_items + 1).astype(np.float64)


def _tie_break(popularity: np.ndarray, scale: float) -> np.ndarray:
    """Popularity squeezed into [0, scale): orders ties, never overtakes a real difference."""
    return scale * popularity / (popularity.max() + 1.0)


class Popularity(NextItemModel):
    name = "popularity"

    def fit(self, train: ClickSessions, n_items: int) -> Popularity:
        self.popularity = _popularity(train, n_items)
        return self

    def score(self, test: ClickSessions, prefixes: Prefixes) -> np.ndarray:  # noqa: ARG002 - NextItemModel.score's signature
        return np.tile(self.popularity, (len(prefixes), 1))


class SessionPopularity(NextItemModel):
    name = "session_popularity"

    def fit(self, train: ClickSessions, n_items: int) -> SessionPopularity:
        self.base = _tie_break(_popularity(train, n_items), 1.0)
        return self

    def score(self, test: ClickSessions, prefixes: Prefixes) -> np.ndarray:
        scores = np.tile(self.base, (len(prefixes), 1))
        for row, (start, end) in enumerate(zip(prefixes.starts, prefixes.ends)):
            np.add.at(scores[row], test.items[start:end], 1.0)
        return scores


class FirstOrderMarkov(NextItemModel):
    name = "markov"

    def fit(self, train: ClickSessions, n_items: int) -> FirstOrderMarkov:
        same_session = np.ones(len(train.items) - 1, dtype=bool)
        same_session[train.offsets[1:-1] - 1] = False  # pair (last of k, first of k+1) crosses sessions
        source = train.items[:-1][same_session]
        target = train.items[1:][same_session]
        self.transitions = sparse.csr_matrix((np.ones(len(source)), (source, target)), shape=(n_items + 1, n_items + 1))
        self.transitions.sum_duplicates()
        self.base = _tie_break(_popularity(train, n_items), 1.0)
        return self

    def score(self, test: ClickSessions, prefixes: Prefixes) -> np.ndarray:
        last_items = test.items[prefixes.ends - 1]
        return self.transitions[last_items].toarray() + self.base


@dataclass
class SessionKNN(NextItemModel):
    """SKNN (cosine over item sets) or, with `vector=True`, V-SKNN (Ludewig & Jannach 2018).

    V-SKNN weighs the prefix's items linearly by position (last item 1, "div" weighting), takes
    the dot product with each neighbour's item set as similarity, discounts each neighbour by
    1/(how many clicks back its most recent shared item is) ("div_score"), and boosts rare items
    by idf. Defaults k=100, sample_size=500 (session-rec's) with idf 1.0: on the train_tr ->
    train_valid split of yoochoose_rsc15_100k, a grid over k in {50, 100, 200}, sample_size in
    {500, 1000, 2500}, idf in {0, 1} put them within 0.0001 MRR@20 of the best (docs/measurements.md, "Encoder").
    """

    k: int = 100
    sample_size: int = 500
    vector: bool = False
    idf_weighting: float = 0.0
    name: str = field(default="session_knn")

    def fit(self, train: ClickSessions, n_items: int) -> SessionKNN:
        session_of_click = np.repeat(np.arange(train.n_sessions), train.lengths)
        matrix = sparse.csr_matrix((np.ones(len(train.items)), (session_of_click, train.items)), shape=(train.n_sessions, n_items + 1))
        matrix.data[:] = 1.0  # a set per session: duplicates count once
        matrix.sum_duplicates()
        matrix.data[:] = 1.0
        self.sessions = matrix
        self.sessions_by_item = matrix.tocsc()
        self.session_size = np.asarray(matrix.sum(axis=1)).ravel()
        self.session_end = train.session_end
        sessions_with_item = np.asarray(matrix.sum(axis=0)).ravel()
        self.idf = np.log(train.n_sessions / np.maximum(sessions_with_item, 1.0))
        self.base = _tie_break(_popularity(train, n_items), 1e-9)
        return self

    def _score_one(self, context: np.ndarray) -> np.ndarray:
        length = len(context)
        # Last position (1-based) of each distinct item of the prefix.
        items, first_from_end = np.unique(context[::-1], return_index=True)
        last_position = length - first_from_end
        columns = self.sessions_by_item[:, items].tocsr()
        candidates = np.flatnonzero(np.diff(columns.indptr))  # sessions sharing at least one item
        scores = self.base.copy()
        if len(candidates) == 0:
            return scores
        if self.sample_size and len(candidates) > self.sample_size:
            recent = np.argsort(-self.session_end[candidates], kind="stable")[: self.sample_size]
            candidates = candidates[recent]
        shared = columns[candidates]
        if self.vector:
            weights = last_position / length
            similarity = shared @ weights
            most_recent_shared = shared.multiply(last_position[None, :]).max(axis=1).toarray().ravel()
            decay = 1.0 / (length - most_recent_shared + 1.0)
        else:
            overlap = np.asarray(shared.sum(axis=1)).ravel()
            similarity = overlap / (np.sqrt(len(items)) * np.sqrt(self.session_size[candidates]))
            decay = np.ones_like(similarity)
        similarity = np.asarray(similarity).ravel()
        if len(candidates) > self.k:
            top = np.argpartition(-similarity, self.k - 1)[: self.k]
        else:
            top = np.arange(len(candidates))
        votes = self.sessions[candidates[top]].T @ (similarity[top] * decay[top])
        votes = np.asarray(votes).ravel()
        if self.idf_weighting:
            votes = votes * (1.0 + self.idf_weighting * self.idf)
        return scores + votes

    def score(self, test: ClickSessions, prefixes: Prefixes) -> np.ndarray:
        return np.stack([self._score_one(test.items[s:e]) for s, e in zip(prefixes.starts, prefixes.ends)])
