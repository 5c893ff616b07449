"""Feature tables written by model stages: declared schemas, as-of aggregation, Feast registration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from clickintent.features.model_outputs import (
    MODEL_OUTPUTS,
    ensure_model_output_files,
    recency_weighted_as_of,
)
from clickintent.features.partitioned_marts import mart_location


def _brute_force(customers, ends, vectors, half_life_days):
    seconds = ends.astype("datetime64[us]").astype(np.int64) / 1e6
    result = np.zeros_like(vectors)
    for i in range(len(vectors)):
        mine = [j for j in range(i + 1) if customers[j] == customers[i]]
        weights = np.array([0.5 ** ((seconds[i] - seconds[j]) / (half_life_days * 86400)) for j in mine])
        result[i] = (weights[:, None] * vectors[mine]).sum(axis=0) / weights.sum()
    return result


def test_recency_weighted_as_of_matches_the_definition_and_ignores_the_future():
    rng = np.random.default_rng(3)
    customers = np.array(["a"] * 5 + ["b"] * 1 + ["c"] * 4)
    ends = np.concatenate([np.sort(rng.integers(0, 60 * 86400, size=n)) for n in (5, 1, 4)]).astype("datetime64[s]")
    vectors = rng.normal(size=(10, 3))
    expected = _brute_force(customers, ends, vectors, 14.0)
    np.testing.assert_allclose(recency_weighted_as_of(customers, ends, vectors, 14.0), expected, rtol=1e-5, atol=1e-6)
    # changing a later session of a customer leaves every earlier row of that customer unchanged
    changed = vectors.copy()
    changed[4] += 100.0
    again = recency_weighted_as_of(customers, ends, changed, 14.0)
    np.testing.assert_allclose(again[:4], expected[:4], rtol=1e-5, atol=1e-6)
    assert not np.allclose(again[4], expected[4])


def _brute_force_general(customers, as_of, vectors, half_life_days, event=None, window_days=None):
    """The definition, row by row: weights 0.5 ** ((as_of_i - event_j) / half-life) over rows j <= i
    of the customer, and with a window only those with as_of_j >= as_of_i - window."""
    to_seconds = lambda values: values.astype("datetime64[us]").astype(np.int64) / 1e6  # noqa: E731
    counted, observed = to_seconds(as_of), to_seconds(event if event is not None else as_of)
    result = np.zeros_like(vectors)
    for i in range(len(vectors)):
        mine = [
            j
            for j in range(i + 1)
            if customers[j] == customers[i] and (window_days is None or counted[j] >= counted[i] - window_days * 86400)
        ]
        weights = np.array([0.5 ** ((counted[i] - observed[j]) / (half_life_days * 86400)) for j in mine])
        result[i] = (weights[:, None] * vectors[mine]).sum(axis=0) / weights.sum()
    return result


def test_recency_weighted_as_of_with_a_window_drops_sessions_older_than_it():
    rng = np.random.default_rng(5)
    customers = np.array(["a"] * 12 + ["b"] * 3 + ["c"] * 9)
    ends = np.concatenate([np.sort(rng.integers(0, 90 * 86400, size=n)) for n in (12, 3, 9)])
    ends[4:12] += ends[3] + 30 * 86400 - ends[4]  # row 4 exactly 30 days after row 3, which still counts there
    ends = ends.astype("datetime64[s]")
    vectors = rng.normal(size=(24, 4))
    expected = _brute_force_general(customers, ends, vectors, 14.0, window_days=30)
    got = recency_weighted_as_of(customers, ends, vectors, 14.0, window_days=30)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # the window changes something (else the test would prove nothing)
    assert not np.allclose(got, recency_weighted_as_of(customers, ends, vectors, 14.0), atol=1e-4)


def test_a_session_stitched_at_a_login_counts_from_the_login_with_its_own_age():
    day = np.timedelta64(86400, "s")
    login = np.datetime64("2026-02-01T10:00:00")
    # two anonymous sessions (20 and 6 days before the login) stitched at it, then the login session
    as_of = np.array([login, login, login + np.timedelta64(600, "s")])
    events = np.array([login - 20 * day, login - 6 * day, login + np.timedelta64(600, "s")])
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    customers = np.array(["c1"] * 3)
    got = recency_weighted_as_of(customers, as_of, vectors, 14.0, event_ts=events)
    np.testing.assert_allclose(got, _brute_force_general(customers, as_of, vectors, 14.0, event=events), rtol=1e-5)
    weights = 0.5 ** (np.array([20.0, 6.0]) / 14.0)
    np.testing.assert_allclose(got[1], (weights[:, None] * vectors[:2]).sum(axis=0) / weights.sum(), rtol=1e-5)
    with pytest.raises(ValueError, match="after its end_ts"):
        recency_weighted_as_of(customers, events, vectors, 14.0, event_ts=as_of + day)


def test_placeholders_have_the_declared_schema_and_never_overwrite(tmp_path):
    from clickintent.settings import load_settings

    settings = load_settings(data_dir=tmp_path / "data")
    written = ensure_model_output_files(settings)
    assert sorted(written) == sorted(output.feature_view for output in MODEL_OUTPUTS)
    for output in MODEL_OUTPUTS:
        assert pq.read_schema(output.path(settings)).equals(output.arrow_schema())
    assert ensure_model_output_files(settings) == []


def test_declared_outputs_become_feature_views_with_push_sources(pipeline_world):
    from clickintent.features.store import load_repo_objects

    contents = load_repo_objects(pipeline_world)
    views = {view.name: view for view in contents.feature_views}
    for output in MODEL_OUTPUTS:
        view = views[output.feature_view]
        declared = [
            column.name
            for column in output.columns
            if column.feature and column.name not in ("session_id", "customer_id", output.timestamp_field)
        ]
        assert [field.name for field in view.features] == declared
        assert (view.stream_source is not None) == output.pushable
        assert view.batch_source.path == str(output.path(pipeline_world))


def test_intent_tables_follow_the_taxonomy_stage(pipeline_world, tmp_path):
    """Run the offline taxonomy stage on a copy of the pipeline world; its Feast tables conform."""
    import shutil

    from clickintent.features.model_outputs import CUSTOMER_WEB_INTENT_LABELS, SESSION_INTENT
    from clickintent.settings import load_settings
    from clickintent.taxonomy.pipeline import run_taxonomy_stage

    settings = load_settings(data_dir=tmp_path / "data", models_dir=tmp_path / "models", threads=1)
    shutil.copytree(pipeline_world.data_dir, settings.data_dir)
    run_taxonomy_stage(settings, evaluate=False)

    sessions = pq.read_table(SESSION_INTENT.path(settings))
    assert sessions.schema.equals(SESSION_INTENT.arrow_schema())
    sequences = pq.read_table(mart_location(settings.marts_dir, "fct_session_sequences"), columns=["session_id"])
    assert sessions.num_rows == sequences.num_rows
    onehot = np.stack(sessions.column("teacher_intent_top_node_onehot").to_numpy(zero_copy_only=False))
    assert set(onehot.sum(axis=1)) <= {0.0, 1.0}

    customers = pq.read_table(CUSTOMER_WEB_INTENT_LABELS.path(settings)).to_pandas()
    assert not customers.duplicated(["customer_id", "as_of_ts"]).any()
    probs = np.stack(customers.web_distilled_top_node_probs.to_numpy())
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    # every customer's first row holds the sessions that start to count then (one, or a login's
    # session plus those it stitched), and every counting time is an as-of time of its customer
    links = pd.read_parquet(mart_location(settings.marts_dir, "fct_web_login_links"))
    assert set(customers.customer_id) == set(links.customer_id)
    first = customers.sort_values("as_of_ts").groupby("customer_id").head(1).set_index("customer_id")
    first_links = links[links.counts_from_ts == links.customer_id.map(first.as_of_ts)]
    assert (first.n_linked_web_sessions == first_links.groupby("customer_id").size().reindex(first.index)).all()
    assert set(zip(links.customer_id, links.counts_from_ts)) == set(zip(customers.customer_id, customers.as_of_ts))


def test_without_links_or_signed_in_web_sessions_nothing_is_linked() -> None:
    import pandas as pd

    from clickintent.features.model_outputs import linked_web_rows

    sessions = pd.DataFrame(
        {
            "session_id": ["a", "b", "c"],
            "platform": ["web", "web", "app"],
            "customer_id": [None, None, "c_1"],
            "session_end_ts": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03"], utc=True),
        }
    )
    assert linked_web_rows(sessions, None).empty
    signed_in = sessions.assign(customer_id=[None, "c_1", "c_1"])
    linked = linked_web_rows(signed_in, None)
    assert list(linked["session_id"]) == ["b"] and list(linked["as_of_ts"]) == list(signed_in["session_end_ts"].iloc[[1]])
