"""Helpers for using the served models from Python (a notebook, a batch job): docs/notebook.md.

`ranker_rows` gives the tile ranker's input rows for chosen customers and candidates, assembled
by the service's own code (the customer's online features from `OnlineFeatures.customer`, the
identity-free rule, each candidate's catalogue features laid over them), so what a notebook
scores is what `/recommend` scores for a customer without a live session.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from clickintent.serving.recommender import Recommender, UnknownProducts


def ranker_rows(recommender: Recommender, customer_ids: Iterable[str], candidate_ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """One row per (customer, candidate), customers in the given order, each customer's candidates
    in `candidate_ids` order (default: the whole catalogue). Score them with
    `recommender.ranker.score(rows)`. UnknownProducts names candidates the catalogue lacks."""
    candidates = list(recommender.catalogue if candidate_ids is None else candidate_ids)
    unknown = [product_id for product_id in candidates if product_id not in recommender.products]
    if unknown:
        raise UnknownProducts(f"not in the catalogue: {', '.join(map(repr, unknown))}")
    rows = []
    for customer_id in customer_ids:
        customer = recommender.online.customer(customer_id)
        if recommender.identity_free:
            customer = recommender._without_linked_web_features(customer)
        rows.extend({"customer_id": customer_id, **recommender._row(customer.values, product_id)} for product_id in candidates)
    return rows
