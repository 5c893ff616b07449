"""A materialize that starts under the running service: the Recommender flags its answers
`degraded` until the run finishes (stand-in models and store: support.stand_in_recommender)."""

from __future__ import annotations

from clickintent.artifacts import COMMITTED, IN_PROGRESS, atomic_write_json
from clickintent.features.store import materialize_state_path
from support.stand_in_recommender import stand_in_recommender


def test_a_materialize_that_starts_under_the_service_flags_answers_until_it_finishes(tmp_path) -> None:
    recommender, _ = stand_in_recommender(tmp_path)
    assert not recommender.recommend(k=2)["degraded"]
    path = materialize_state_path(recommender.settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, {"state": IN_PROGRESS, "started_at": "2026-12-04T10:00:00+00:00", "pending_views": ["customer_profile"]})
    answer = recommender.recommend(k=2)
    assert (
        answer["degraded"]
        and "partly materialized" in answer["degraded_reasons"][0]
        and "customer_profile" in answer["degraded_reasons"][0]
    )
    atomic_write_json(path, {"state": COMMITTED, "started_at": "2026-12-04T10:00:00+00:00", "pending_views": []})
    assert not recommender.recommend(k=2)["degraded"]
