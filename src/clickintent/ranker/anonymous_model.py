"""The anonymous-visitor ranker: which product family a visitor without a login goes for next
(stable API for the service).

    ranker = AnonymousRanker.load(settings.models_dir)   # validates <models_dir>/anonymous_ranker/model_card.json
    ranker.version, ranker.feature_service, ranker.row_keys, ranker.families
    p = ranker.score_families(values)                    # {family: P(application or opening within 14 days)}
    prior = ranker.prior_products({"p_1": "home", ...})  # nothing known: the family's training rate x the share
    scores = ranker.score_products(values, {"p_1": "home", ...})   # P(family) x the product's share
    reasons = ranker.reasons(values, "home", top_k=3)    # why that family

The model is XGBoost `binary:logistic` on one row per (anonymous web session, product family),
the family a categorical feature, labelled by dbt's `fct_anonymous_session_outcomes`: the
visitor starts or submits an application of the family, or opens one as the customer it logs in
as, within 14 days after the session (clickintent.ranker.anonymous_training trains it). The
probabilities are not a distribution: a visitor may go for two families, or none. The families
are the training data's (dim_products, sorted), stored in the card (`ranker.families`).

`values` are the session's feature values by Feast feature name (no view prefix, as
`get_online_features(..., full_feature_names=False)` returns them) for the card's feature service
(`ranker.feature_service`, normally `anonymous_ranker_v2`): the session's dbt aggregates
(web_session_stats: counts, dwell, depth, duration, device, entry page and source, taxonomy
shares), its distilled intent (session_intent) and its embedding (session_embedding), all
computable from the live session's events by the same rules as the batch stages, and the
visitor's 30-day journey (visitor_journey, visitor_journey_embedding), stored by the cookie,
which the service brings up to the live session (clickintent.serving.live_features.journey_row). A missing key
or None is a missing value (XGBoost's learned default branch). `product_family` is set per row by
the ranker, never taken from `values`.

Product scores: P(family) times the product's share of the family's outcomes among the training
sessions (`product_shares` in the card, add-one smoothed over the catalogue at training time, so
a product nobody applied for still has a small share; a product launched since gets its family's
`unseen_product_share`). Within a family the order is the products' popularity with visitors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from clickintent.ranker.layout import FeatureLayout
from clickintent.ranker.reasons import Reason, ReasonTemplates
from clickintent.ranker.served import LayoutModel, ModelCardError, save_layout_model
from clickintent.ranker.tabular import ColumnKind, FeatureColumn

ANONYMOUS_RANKER_DIR = "anonymous_ranker"
ANONYMOUS_CARD_FORMAT = "clickintent-anonymous-ranker/1"
ANONYMOUS_OBJECTIVE = "binary:logistic"
FAMILY_COLUMN = "product_family"
# The row key the ranker sets per candidate family (not a Feast feature of the session).
ANONYMOUS_CONTEXT = (FeatureColumn(FAMILY_COLUMN, ColumnKind.CATEGORICAL),)
# Embeddings are one reason each; their single dimensions mean nothing.
GROUPED_VECTORS = ("embedding", "journey_embedding")
RESEARCHED_SHARE = 0.2  # a share of the visit (or an intent probability) that reads as research

# Reason texts for the session-level features (the customer-level ones are in feature_reasons).
ANONYMOUS_REASON_TEMPLATES = ReasonTemplates()
_register = ANONYMOUS_REASON_TEMPLATES.register
_register(r"taxonomy_node_shares\.(?P<node>[^=]+)", "this visit researched {node}", min_value=RESEARCHED_SHARE)
_register(r"taxonomy_node_shares\.(?P<node>[^=]+)", "little of this visit was about {node}")
_register(r"top_taxonomy_node_id=(?P<node>.+)", "this visit was mostly about {node}")
_register(r"top_taxonomy_node_share", "a focused visit: {value} of it on one topic", min_value=0.5)
_register(r"distilled_intent_top_node_probs\.(?P<node>[^=]+)", "this visit reads as research into {node}", min_value=RESEARCHED_SHARE)
_register(r"distilled_intent_top_node_probs\.(?P<node>[^=]+)", "this visit shows little interest in {node}")
_register(r"distilled_intent_top_node_id=(?P<node>.+)", "this visit reads as research into {node}")
_register(r"distilled_intent_node_id=(?P<node>.+)", "this visit reads as research into {node}")
_register(r"embedding", "this visit resembles those of visitors who went on to apply")
_register(r"journey_embedding", "recent visits resemble those of visitors who went on to apply")
_register(r"n_calculator_events", "used a calculator {value} times in this visit", min_value=1)
_register(r"n_form_starts", "started {value} application forms in this visit", min_value=1)
_register(r"n_form_submits", "submitted {value} application forms in this visit", min_value=1)
_register(r"n_product_events", "looked at product pages {value} times in this visit", min_value=1)
_register(r"n_searches", "searched the website {value} times in this visit", min_value=1)
_register(r"n_page_views", "viewed {value} pages in this visit", min_value=1)
_register(r"depth", "explored {value} pages in this visit", min_value=1)
_register(r"duration_s", "a visit of {value} seconds", min_value=1)
_register(r"total_dwell_s", "spent {value} seconds reading in this visit", min_value=1)
_register(r"entry_source=(?P<source>.+)", "came to the website from {source}")
_register(r"entry_page_path=(?P<page>.+)", "arrived on {page}")
_register(r"device_type=(?P<device>.+)", "browsing on {device}")
_register(r"mean_dwell_s", "read each page for {value} seconds on average", min_value=1)
_register(r"median_dwell_s", "read pages for {value} seconds (median)", min_value=1)
_register(r"max_dwell_s", "read one page for {value} seconds", min_value=1)
_register(r"n_events", "{value} interactions in this visit", min_value=1)
_register(r"n_clicks", "clicked {value} times in this visit", min_value=1)
_register(r"n_sessions_30d", "visited the website {value} times in the last 30 days", min_value=2)
_register(r"n_sessions_30d", "a first visit in 30 days")
_register(r"taxonomy_node_shares_30d\.(?P<node>[^=]+)", "recent visits researched {node}", min_value=RESEARCHED_SHARE)
_register(r"taxonomy_node_shares_30d\.(?P<node>[^=]+)", "little of the recent visits was about {node}")
_register(r"top_taxonomy_node_id_30d=(?P<node>.+)", "recent visits were mostly about {node}")
_register(r"journey_distilled_top_node_probs\.(?P<node>[^=]+)", "recent visits read as research into {node}", min_value=RESEARCHED_SHARE)
_register(r"journey_distilled_top_node_probs\.(?P<node>[^=]+)", "recent visits show little interest in {node}")
_register(r"days_since_previous_session", "came back after {value} days")
_register(r"days_since_first_session_30d", "has been visiting for {value} days")
_register(r"n_product_events_30d", "looked at product pages {value} times in the last 30 days", min_value=1)
_register(r"n_form_submits_30d", "submitted {value} applications in the last 30 days", min_value=1)
_register(r"n_searches_30d", "searched the website {value} times in the last 30 days", min_value=1)
_register(r"n_events_30d", "{value} page events in the last 30 days", min_value=1)
_register(r"n_journey_sessions", "{value} recent visits", min_value=2)
_register(r"distilled_intent_confidence", "a clear intent in this visit ({value} confident)", min_value=0.5)
_register(r"distilled_intent_confidence", "no clear intent in this visit yet")
_register(r"has_logged_in_before=yes", "has signed in on this browser before")
_register(r"has_logged_in_before=no", "has never signed in on this browser")
_register(r"n_calculator_events_30d", "used calculators {value} times in the last 30 days", min_value=1)
_register(r"n_form_starts_30d", "started {value} applications in the last 30 days", min_value=1)


@dataclass
class AnonymousRanker(LayoutModel):
    """A stored anonymous-visitor ranker; per request, one row per product family (no pandas)."""

    directory_name = ANONYMOUS_RANKER_DIR
    card_format = ANONYMOUS_CARD_FORMAT
    templates: ReasonTemplates = ANONYMOUS_REASON_TEMPLATES

    def __post_init__(self) -> None:
        super().__post_init__()
        families = self.card.get("families")
        if not families:
            raise ModelCardError(f"an anonymous ranker's card needs its families, got {families!r}")
        if FAMILY_COLUMN not in self._column_index:
            raise ModelCardError(f"an anonymous ranker's layout must have the {FAMILY_COLUMN} column")
        self.families: list[str] = list(families)
        self.product_shares: dict[str, dict[str, float]] = {
            family: dict(shares) for family, shares in self.card.get("product_shares", {}).items()
        }
        self.unseen_product_share: dict[str, float] = dict(self.card.get("unseen_product_share", {}))
        prior = self.card.get("family_prior")
        if not prior or set(prior) != set(self.families):
            raise ModelCardError(f"an anonymous ranker's card needs a family_prior for every family, got {prior!r}")
        self.family_prior: dict[str, float] = {family: float(prior[family]) for family in self.families}

    def rows(self, values: Mapping[str, Any], families: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """One model row per family: the session's values with the family set."""
        chosen = self.families if families is None else list(families)
        unknown = [family for family in chosen if family not in self.families]
        if unknown:
            raise ValueError(f"unknown product famil(ies) {', '.join(map(repr, unknown))}; the model knows {', '.join(self.families)}")
        return [{**values, FAMILY_COLUMN: family} for family in chosen]

    def score_families(self, values: Mapping[str, Any]) -> dict[str, float]:
        """P(the visitor applies for or opens a product of the family within 14 days), per family."""
        probabilities = self.score_rows(self.rows(values))
        return {family: float(p) for family, p in zip(self.families, probabilities)}

    def score_rows(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """P(outcome) per row (each with its product_family), float32."""
        if not rows:
            return np.zeros(0, dtype=np.float32)
        return self.score_matrix(self.encode(rows))

    def score_matrix(self, matrix: np.ndarray) -> np.ndarray:
        # The encoder builds the booster's columns (checked at load), so XGBoost's per-call
        # feature-name check is skipped, as in TileRanker.score_matrix.
        return np.asarray(self.booster.inplace_predict(matrix, validate_features=False), dtype=np.float32).reshape(len(matrix))

    def product_share(self, product_id: str, family: str) -> float:
        """The product's share of its family's outcomes among the training sessions (smoothed)."""
        shares = self.product_shares.get(family, {})
        if product_id in shares:
            return float(shares[product_id])
        return float(self.unseen_product_share.get(family, 0.0))

    def score_products(self, values: Mapping[str, Any], product_families: Mapping[str, str]) -> dict[str, float]:
        """Score per product (`{product_id: family}`): P(family) x the product's within-family share."""
        by_family = self.score_families(values)
        out = {}
        for product_id, family in product_families.items():
            if family not in by_family:
                raise ValueError(
                    f"product {product_id!r} has family {family!r}, which the model does not know ({', '.join(self.families)})"
                )
            out[product_id] = by_family[family] * self.product_share(product_id, family)
        return out

    def prior_products(self, product_families: Mapping[str, str]) -> dict[str, float]:
        """Score per product for a visitor nothing is known about: the family's outcome rate among
        the training sessions (calibrated: it is the observed rate) x the product's share."""
        return {
            product_id: self.family_prior.get(family, 0.0) * self.product_share(product_id, family)
            for product_id, family in product_families.items()
        }

    def reasons(self, values: Mapping[str, Any], family: str, top_k: int = 3, *, exact: bool = True) -> list[Reason]:
        """Up to `top_k` readable reasons why `family` scores as it does for this session."""
        rows = self.rows(values, [family])
        matrix = self.encode(rows)
        return self.reasons_from_contributions(self.contributions(matrix, exact=exact), rows, matrix, top_k)[0]


def save_anonymous_ranker(
    models_dir: Path,
    booster: Any,
    layout: FeatureLayout,
    *,
    families: Sequence[str],
    product_shares: Mapping[str, Mapping[str, float]],
    unseen_product_share: Mapping[str, float],
    family_prior: Mapping[str, float],
    **card_fields: Any,
) -> Path:
    """Store the anonymous ranker; `card_fields` are save_layout_model's (service, version, data window, metrics, training, extra)."""
    task = {
        "task": "anonymous web visitor: P(application started or submitted, or product opened, per product family within 14 days)",
        "objective": ANONYMOUS_OBJECTIVE,
        "label": "fct_anonymous_session_outcomes.outcome (rows with label_window_complete only)",
        "families": list(families),
        "product_shares": {family: dict(shares) for family, shares in product_shares.items()},
        "unseen_product_share": dict(unseen_product_share),
        "family_prior": {family: float(rate) for family, rate in family_prior.items()},
        "product_score": "P(family) x the product's add-one smoothed share of the family's outcomes in the training sessions",
    }
    return save_layout_model(models_dir, booster, layout, fmt=ANONYMOUS_CARD_FORMAT, name=ANONYMOUS_RANKER_DIR, task=task, **card_fields)
