"""The homepage tile ranker: a binary click model served per request (stable API for the service).

    ranker = TileRanker.load(settings.models_dir)       # validates <models_dir>/tile_ranker/model_card.json
    ranker.version, ranker.feature_service, ranker.feature_names, ranker.row_keys
    scores = ranker.score(rows)                          # P(click) per candidate, float32 array
    reasons = ranker.reasons(rows, top_k=3)              # list[list[Reason]] per candidate

The model is XGBoost `binary:logistic` on tiles shown (clicked or not), chosen over
learning-to-rank by measurement (`clickintent rank designs`; numbers in the report). Position
bias: the slot a tile was shown in is a training feature, so the model learns how much of a
click is the slot; at serving every candidate is scored at slot `SERVING_POSITION` (1), so the
slot cannot decide the ranking and scores are click probabilities for the top slot.

How a serving row is assembled (one dict per candidate product)
---------------------------------------------------------------
Keys are `ranker.row_keys`: the Feast feature names of the feature service named in the card
(`ranker.feature_service`, normally `tile_ranker_v2`; no view prefix, as
`get_online_features(..., full_feature_names=False)` returns them) plus `product_id`. A missing
key or None is a missing value (XGBoost's learned default branch). `position` may be given
(evaluation of logged impressions); otherwise it is SERVING_POSITION.

Logged-in customer, nothing live::

    service = store.get_feature_service(ranker.feature_service)   # once at start-up (~7 ms per call)
    online = store.get_online_features(
        features=service, entity_rows=[{"customer_id": c, "product_id": p} for p in candidates],
        full_feature_names=False,
    ).to_dict()
    rows = [{key: online[key][i] for key in ranker.row_keys if key in online} for i in range(len(candidates))]

The customer-side values are the same for every candidate (customer_profile and the web and
app views), product_features differ per product; fetching the customer once and the (static)
product rows from a start-up cache gives the same rows faster.

A live session replaces the stored customer-level features of its own platform with values that
include it (what the producing stages would write at the session's end). A signed-in web session
updates the linked-web features (the service may push them through
`customer_web_embedding_push_source` / `customer_web_intent_labels_push_source`); a signed-in app
session updates the in-app ones (the app's own sign-in, no web link; never pushed: the batch
pipeline writes them). For each feature the model reads (`ranker.feature_names`):

- `web_embedding` (customer_web_embedding), `app_embedding` (customer_app_embedding): the
  encoder's embedding of the live session, recency-merged with the stored vector
  (clickintent.serving.login.recency_update, the one-step form of
  clickintent.features.model_outputs.recency_weighted_as_of); with no stored vector, the live
  session's embedding alone.
- `web_distilled_top_node_id`, `web_distilled_top_node_probs` (customer_web_intent_labels),
  `app_distilled_top_node_probs` (customer_app_embedding): the distilled classifier on the live
  session (its top node; its top-node probabilities, merged the same way).
- the dbt 30-day web aggregates (customer_web_intent: `n_linked_sessions_30d`, the event counts,
  dwell, depth, `taxonomy_node_shares_30d`, `top_taxonomy_node_id_30d`, ...), for a web
  session: the stored values plus the live session's own counts (shares re-weighted by events),
  or the live session's alone when nothing is stored (then `n_linked_sessions_30d` = 1).

The service answers customers with this model; a visitor without a profile is answered by the
anonymous-visitor ranker (clickintent.ranker.anonymous_model), since this one never saw a row
without a customer profile in training.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from clickintent.ranker.encoding import CandidateBlock
from clickintent.ranker.layout import FeatureLayout
from clickintent.ranker.reasons import Reason
from clickintent.ranker.served import LayoutModel, ModelCardError, save_layout_model
from clickintent.ranker.tabular import ColumnKind, FeatureColumn

TILE_RANKER_DIR = "tile_ranker"
TILE_CARD_FORMAT = "clickintent-tile-ranker/1"
TILE_OBJECTIVE = "binary:logistic"
# Every candidate is scored as if shown in the first slot (see the module docstring).
SERVING_POSITION = 1
# Row keys beside the Feast features: the product entity key (a categorical feature: each
# product's own appeal) and the slot the tile was shown in.
TILE_CONTEXT = (FeatureColumn("product_id", ColumnKind.CATEGORICAL), FeatureColumn("position", ColumnKind.NUMERIC))
TILE_DERIVED = ("holds_candidate_product", "holds_candidate_family")


@dataclass
class TileRanker(LayoutModel):
    """A stored tile ranker; `score` and `reasons` are the per-request path (no pandas)."""

    directory_name = TILE_RANKER_DIR
    card_format = TILE_CARD_FORMAT

    def __post_init__(self) -> None:
        super().__post_init__()
        if "position" not in self._column_index:
            raise ModelCardError("a tile ranker's layout must have the position column")
        self._position_column = self._column_index["position"]

    def matrix(
        self, rows: Sequence[Mapping[str, Any]], *, over: tuple[CandidateBlock, Mapping[str, Any], Sequence[str]] | None = None
    ) -> np.ndarray:
        """The encoded rows, slot SERVING_POSITION where a row gives none.

        `over=(block, shared, candidate_ids)` encodes rows that are `{**shared, **candidate}`
        from the candidates' pre-encoded columns (the service's path; same matrix)."""
        matrix = self.encode(rows) if over is None else over[0].encode(over[1], over[2], rows)
        position = matrix[:, self._position_column]
        position[np.isnan(position)] = SERVING_POSITION
        return matrix

    def score(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """P(click) per row (one per candidate product), float32."""
        if not rows:
            return np.zeros(0, dtype=np.float32)
        return self.score_matrix(self.matrix(rows))

    def rank(self, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        """Row indices, best candidate first (ties keep the given order)."""
        return [int(index) for index in np.argsort(-self.score(rows), kind="stable")]

    def reasons(self, rows: Sequence[Mapping[str, Any]], top_k: int = 3, *, exact: bool = True) -> list[list[Reason]]:
        """Up to `top_k` readable reasons per candidate: its largest positive contributions
        (the embedding summed into one), through FEATURE_REASON_TEMPLATES.

        `exact` uses TreeSHAP (consistent attributions), from the precomputed path tables of
        `contributions` (the same values as XGBoost's pred_contribs to float32 rounding).
        `exact=False` uses XGBoost's approximate (Saabas) contributions, whose top reason
        disagreed with TreeSHAP's for about one candidate in ten.
        """
        if not rows:
            return []
        matrix = self.matrix(rows)
        contributions = self.contributions(matrix, exact=exact)
        return self.reasons_from_contributions(contributions, rows, matrix, top_k)

    def score_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """P(click) per row of an encoded matrix (positions as given in it), float32."""
        # The encoder builds the booster's columns (checked against the card at load), so XGBoost's
        # per-call check of the feature names, a large share of a 30-row call, is skipped.
        return np.asarray(self.booster.inplace_predict(matrix, validate_features=False), dtype=np.float32).reshape(len(matrix))


def save_tile_ranker(models_dir: Path, booster: Any, layout: FeatureLayout, **card_fields: Any) -> Path:
    """Store the tile ranker; `card_fields` are save_layout_model's (service, version, data window, metrics, training, extra)."""
    task = {
        "task": "homepage tile ranking: P(click) of a product tile for a customer",
        "objective": TILE_OBJECTIVE,
        "label": "fct_tile_impressions.clicked",
        "serving_position": SERVING_POSITION,
        "position_bias": (
            "the slot a tile was shown in is a training feature; serving scores every candidate at "
            f"slot {SERVING_POSITION}, so the slot cannot decide the ranking"
        ),
    }
    return save_layout_model(models_dir, booster, layout, fmt=TILE_CARD_FORMAT, name=TILE_RANKER_DIR, task=task, **card_fields)
