"""Visitor journeys, stitching at login and the customer's in-app intent, point in time.

Everything reads the stitching world built with the default settings (identity_worlds["login"],
tests/features/conftest.py): dbt's marts are recomputed here from the sessions themselves, the
model outputs from the stand-in embeddings and probabilities, and the Feast store is applied,
materialized and read online.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from clickintent.features.model_outputs import CUSTOMER_APP_EMBEDDING, SESSION_EMBEDDING, SESSION_INTENT, VISITOR_JOURNEY_EMBEDDING
from clickintent.features.partitioned_marts import mart_location
from clickintent.features.visitors import visitor_id
from clickintent.settings import Settings
from support.identity_worlds import ANONYMOUS_DAYS_BEFORE, STITCH_COOKIE, STITCH_CUSTOMER, STITCH_LOGIN

pytestmark = pytest.mark.slow

WINDOW = timedelta(days=30)
HALF_LIFE_S = 14 * 86400.0


@pytest.fixture(scope="module")
def world(identity_worlds) -> Settings:
    return identity_worlds["login"]


def _mart(settings: Settings, name: str) -> pd.DataFrame:
    return pd.read_parquet(mart_location(settings.marts_dir, name))


@pytest.fixture(scope="module")
def sessions(world) -> pd.DataFrame:
    """Kept sessions of both platforms with their events per top node, from the sequence mart."""
    frame = _mart(world, "fct_session_sequences")
    nodes = _mart(world, "dim_taxonomy_top_nodes").sort_values("top_node_position")["top_taxonomy_node_id"].tolist()
    frame["node_events"] = [np.array([list(ids).count(node) for node in nodes], dtype=float) for ids in frame["top_taxonomy_node_ids"]]
    frame["visitor_id"] = [visitor_id(p, a) for p, a in zip(frame["platform"], frame["anonymous_id"])]
    frame["signed_in"] = frame["customer_id"].notna() | frame["event_types"].map(lambda types: "login" in list(types))
    return frame


def test_visitor_journey_rows_use_only_the_visitors_sessions_up_to_as_of(world, sessions):
    journeys = _mart(world, "fct_visitor_journeys")
    assert len(journeys) == len(sessions) and not journeys.duplicated(["visitor_id", "as_of_ts"]).any()
    assert set(journeys["visitor_id"]) == set(sessions["visitor_id"])  # dbt's key is the Python one
    by_visitor = {key: group for key, group in sessions.groupby("visitor_id")}
    for row in journeys.itertuples():
        mine = by_visitor[row.visitor_id]
        window = mine[(mine.session_end_ts <= row.as_of_ts) & (mine.session_end_ts >= row.as_of_ts - WINDOW)]
        assert row.n_sessions_30d == len(window)
        assert row.n_events_30d == window.n_events.sum()
        assert row.n_form_starts_30d == sum(list(types).count("form_start") for types in window.event_types)
        assert row.n_searches_30d == sum(list(types).count("search") for types in window.event_types)
        totals = np.sum(np.stack(window.node_events), axis=0)
        expected = totals / totals.sum() if totals.sum() else totals
        np.testing.assert_allclose(row.taxonomy_node_shares_30d, expected, atol=1e-6)
        assert row.has_logged_in_before == bool(mine.loc[mine.session_end_ts <= row.as_of_ts, "signed_in"].any())
        earlier = mine[mine.session_end_ts < row.as_of_ts]
        if earlier.empty:
            assert pd.isna(row.days_since_previous_session)
        else:
            start = mine.loc[mine.session_end_ts == row.as_of_ts, "session_start_ts"].iloc[0]
            assert row.days_since_previous_session == pytest.approx((start - earlier.session_end_ts.max()).total_seconds() / 86400)
    # the stitching cookie: anonymous until its login, signed in from it on
    cookie = journeys[journeys.visitor_id == f"web:{STITCH_COOKIE}"].sort_values("as_of_ts")
    assert cookie.has_logged_in_before.tolist() == [False] * len(ANONYMOUS_DAYS_BEFORE) + [True, True]


def test_customer_app_intent_rows_use_only_the_customers_app_sessions_up_to_as_of(world, sessions):
    app = sessions[(sessions.platform == "app") & sessions.customer_id.notna()]
    intent = _mart(world, "fct_customer_app_intent")
    assert len(intent) == len(app.drop_duplicates(["customer_id", "session_end_ts"])) and len(intent) > 0
    for row in intent.itertuples():
        mine = app[(app.customer_id == row.customer_id) & (app.session_end_ts <= row.as_of_ts)]
        window = mine[mine.session_end_ts >= row.as_of_ts - WINDOW]
        assert row.n_app_sessions_30d == len(window) and row.n_app_events_30d == window.n_events.sum()
        totals = np.sum(np.stack(window.node_events), axis=0)
        np.testing.assert_allclose(row.app_taxonomy_node_shares_30d, totals / totals.sum() if totals.sum() else totals, atol=1e-6)


def _windowed_mean(ends: pd.Series, vectors: np.ndarray, as_of: pd.Timestamp) -> np.ndarray:
    """The definition: weights 0.5 ** (age / 14 days) over the sessions ended in [as_of - 30 days, as_of]."""
    inside = ((ends <= as_of) & (ends >= as_of - WINDOW)).to_numpy()
    weights = 0.5 ** ((as_of - ends[inside]).dt.total_seconds().to_numpy() / HALF_LIFE_S)
    return (weights[:, None] * vectors[inside]).sum(axis=0) / weights.sum()


@pytest.mark.parametrize("output", [VISITOR_JOURNEY_EMBEDDING, CUSTOMER_APP_EMBEDDING], ids=lambda output: output.feature_view)
def test_journey_embeddings_are_windowed_recency_means_as_of_each_session_end(world, sessions, output):
    table = pd.read_parquet(output.path(world))
    embeddings = pd.read_parquet(SESSION_EMBEDDING.path(world)).set_index("session_id")
    probs = pd.read_parquet(SESSION_INTENT.path(world)).set_index("session_id")
    if output is VISITOR_JOURNEY_EMBEDDING:
        key, mart, count, embedding, prob = (
            "visitor_id",
            "fct_visitor_journeys",
            "n_sessions_30d",
            "journey_embedding",
            "journey_distilled_top_node_probs",
        )
        counted = sessions
        n_column = "n_journey_sessions"
    else:
        key, mart, count, embedding, prob = (
            "customer_id",
            "fct_customer_app_intent",
            "n_app_sessions_30d",
            "app_embedding",
            "app_distilled_top_node_probs",
        )
        counted = sessions[(sessions.platform == "app") & sessions.customer_id.notna()]
        n_column = "n_app_sessions"
    # one row per row of the matching dbt mart, with the same session count
    rows = table.merge(_mart(world, mart), on=[key, "as_of_ts"], how="outer", indicator=True)
    assert (rows["_merge"] == "both").all() and (rows[n_column] == rows[count]).all()
    for row in table.itertuples():
        mine = counted[counted[key] == getattr(row, key)]
        ids = mine.session_id.to_numpy()
        vectors = np.stack(embeddings.loc[ids, "embedding"].to_numpy())
        np.testing.assert_allclose(
            getattr(row, embedding), _windowed_mean(mine.session_end_ts, vectors, row.as_of_ts), rtol=1e-4, atol=1e-5
        )
        distilled = np.stack(probs.loc[ids, "distilled_intent_top_node_probs"].to_numpy())
        np.testing.assert_allclose(getattr(row, prob), _windowed_mean(mine.session_end_ts, distilled, row.as_of_ts), rtol=1e-4, atol=1e-5)


def test_stitched_sessions_count_for_the_customer_only_from_the_login(world):
    links = _mart(world, "fct_web_login_links")
    stitched = links[links.link_method == "stitched"]
    assert set(stitched.linked_at_ts) == {STITCH_LOGIN} and (stitched.counts_from_ts == STITCH_LOGIN).all()
    assert (stitched.session_end_ts < STITCH_LOGIN).all()
    login_only = links[links.link_method == "web_session_login"]
    rows = _mart(world, "fct_customer_web_intent").query("customer_id == @STITCH_CUSTOMER")
    # before the login, every row counts login sessions only
    for row in rows[rows.as_of_ts < STITCH_LOGIN].itertuples():
        in_window = (login_only.session_end_ts <= row.as_of_ts) & (login_only.session_end_ts >= row.as_of_ts - WINDOW)
        assert row.n_linked_sessions_30d == in_window.sum()
    assert (rows.as_of_ts == STITCH_LOGIN).sum() == 1  # both stitched sessions start to count at once
    for output in ("customer_web_embeddings", "customer_web_intent_labels"):
        folder = "embeddings" if "embeddings" in output else "features"
        table = pd.read_parquet(world.data_dir / folder / f"{output}.parquet")
        table = table[table.customer_id == STITCH_CUSTOMER].sort_values("as_of_ts")
        assert not table.duplicated(["customer_id", "as_of_ts"]).any()
        before = table[table.as_of_ts < STITCH_LOGIN]
        assert before.n_linked_web_sessions.max() == (login_only.counts_from_ts < STITCH_LOGIN).sum()
        at_login = table[table.as_of_ts == STITCH_LOGIN]
        assert at_login.n_linked_web_sessions.tolist() == [before.n_linked_web_sessions.max() + len(stitched)]


def test_feast_serves_stitched_sessions_from_the_login_and_visitor_journeys_online(world):
    """Feast over the world: a point-in-time join 1 µs before the login does not see the stitched
    sessions, one at the login does; the visitor's online journey is its latest rows."""
    from clickintent.features.store import apply_feature_repo, feature_store, materialize
    from clickintent.serving.online import OnlineFeatures

    apply_feature_repo(world)
    materialize(world)
    store = feature_store(world)
    probes = pd.DataFrame(
        {"customer_id": [STITCH_CUSTOMER] * 2, "event_timestamp": [STITCH_LOGIN - timedelta(microseconds=1), STITCH_LOGIN]}
    )
    joined = (
        store.get_historical_features(
            entity_df=probes, features=["customer_web_intent:n_linked_sessions_30d", "customer_web_embedding:n_linked_web_sessions"]
        )
        .to_df()
        .sort_values("event_timestamp")
    )
    links = _mart(world, "fct_web_login_links").query("customer_id == @STITCH_CUSTOMER")
    # the latest row at or before t is as of the last counting time by t; its window ends there
    as_of = [links.counts_from_ts[links.counts_from_ts <= t].max() for t in probes.event_timestamp]
    expected_30d = [((links.counts_from_ts <= t) & (links.session_end_ts >= t - WINDOW)).sum() for t in as_of]
    expected_all = [(links.counts_from_ts <= t).sum() for t in probes.event_timestamp]
    assert joined.n_linked_sessions_30d.tolist() == expected_30d and joined.n_linked_web_sessions.tolist() == expected_all
    assert expected_all[1] - expected_all[0] == 2  # the two stitched sessions, from the login on

    online = OnlineFeatures(world, "tile_ranker_v2")
    try:
        cookie = f"web:{STITCH_COOKIE}"
        row = online.visitor(cookie)
        journey = _mart(world, "fct_visitor_journeys").query("visitor_id == @cookie").sort_values("as_of_ts").iloc[-1]
        embedding = pd.read_parquet(VISITOR_JOURNEY_EMBEDDING.path(world)).query("visitor_id == @cookie").sort_values("as_of_ts").iloc[-1]
        assert row.known and row.values["n_sessions_30d"] == journey.n_sessions_30d
        assert row.values["has_logged_in_before"] is True and row.values["platform"] == "web"
        np.testing.assert_allclose(row.values["taxonomy_node_shares_30d"], journey.taxonomy_node_shares_30d, rtol=1e-6)
        np.testing.assert_allclose(row.values["journey_embedding"], embedding.journey_embedding, rtol=1e-6)
        assert row.values["n_journey_sessions"] == embedding.n_journey_sessions
        assert row.timestamps["n_sessions_30d"] == journey.as_of_ts.to_pydatetime().replace(microsecond=0)
        # the same values as Feast's own online read
        features = ["visitor_journey:n_sessions_30d", "visitor_journey_embedding:n_journey_sessions"]
        feast_row = store.get_online_features(features=features, entity_rows=[{"visitor_id": cookie}]).to_dict()
        assert (feast_row["n_sessions_30d"][0], feast_row["n_journey_sessions"][0]) == (
            row.values["n_sessions_30d"],
            row.values["n_journey_sessions"],
        )
        unknown = online.visitor("web:never-seen")
        assert not unknown.known and set(unknown.values.values()) == {None}
    finally:
        online.close()


def test_the_customer_read_returns_the_in_app_views_when_a_service_holds_them(world):
    """A feature service with the app views (applied here, as a model's would be): the existing
    customer read returns them beside the profile."""
    from feast import FeatureService

    from clickintent.features.store import feature_store, load_repo_objects
    from clickintent.serving.online import OnlineFeatures

    views = {view.name: view for view in load_repo_objects(world).feature_views}
    service = FeatureService(
        name="test_customer_app_intent", features=[views["customer_profile"], views["customer_app_intent"], views["customer_app_embedding"]]
    )
    store = feature_store(world)
    store.apply([service])
    online = OnlineFeatures(world, service.name)
    try:
        row = online.customer(STITCH_CUSTOMER)
    finally:
        online.close()
        store.delete_feature_service(service.name)
    latest = _mart(world, "fct_customer_app_intent").query("customer_id == @STITCH_CUSTOMER").sort_values("as_of_ts").iloc[-1]
    assert row.known and row.values["n_app_sessions_30d"] == latest.n_app_sessions_30d
    assert row.values["app_top_taxonomy_node_id_30d"] == latest.app_top_taxonomy_node_id_30d
    app_embedding = (
        pd.read_parquet(CUSTOMER_APP_EMBEDDING.path(world)).query("customer_id == @STITCH_CUSTOMER").sort_values("as_of_ts").iloc[-1]
    )
    np.testing.assert_allclose(row.values["app_embedding"], app_embedding.app_embedding, rtol=1e-6)
    assert row.values["n_app_sessions"] == app_embedding.n_app_sessions
