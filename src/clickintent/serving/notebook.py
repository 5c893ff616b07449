"""Helpers for using the served models from Python (a notebook, a batch job): docs/notebook.md.

`ranker_rows` gives the tile ranker's input rows for chosen customers and candidates, assembled
by the service's own code (`Recommender.customer_rows`: the customer's online features, the
identity-free rule, each candidate's catalogue features laid over them). For a known customer
without a live session these are the rows `/recommend` gives the tile ranker; its answer ranks
by the ranker's click probability times the conversion model's probability of the candidate's
family, not by the click probability alone; and a customer the online store does not know is
answered by cold_start, not from these rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from clickintent.serving.recommender import Recommender


def ranker_rows(recommender: Recommender, customer_ids: Iterable[str], candidate_ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """One row per (customer, candidate), customers in the given order, each customer's candidates
    in `candidate_ids` order (default: the whole catalogue). Score them with
    `recommender.ranker.score(rows)`. UnknownProducts names candidates the catalogue lacks."""
    candidates = None if candidate_ids is None else list(candidate_ids)
    return [
        {"customer_id": customer_id, **row} for customer_id in customer_ids for row in recommender.customer_rows(customer_id, candidates)
    ]
