"""No future data reaches training: Feast's point-in-time join, as the ranker's training sets use it.

Label rows whose timestamps are moved earlier than the feature rows they would use get those
features excluded (null, or the earlier row's values); and in a real training set every web
feature value is the one of the latest source row at or before the label time, never a later one.
"""

from __future__ import annotations

import pandas as pd
import pytest

from clickintent.features.partitioned_marts import mart_location
from clickintent.features.store import feature_store
from clickintent.ranker.training_sets import CONVERSION_LABELS, TILE_LABELS, build_training_set, historical_features, read_label_table
from clickintent.settings import Settings

WEB_COLUMNS = ["n_linked_sessions_30d", "n_events_30d", "total_dwell_s_30d", "top_taxonomy_node_id_30d"]
SERVICE = "conversion_f_web_aggregates"  # customer profile + dbt web aggregates
TICK = pd.Timedelta(microseconds=1)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def web_labels(feast_world: Settings) -> pd.DataFrame:
    """Conversion label rows made at the end of a linked web session, with the aggregates row of that session."""
    labels = read_label_table(feast_world, CONVERSION_LABELS)
    labels = labels[labels["observation_point"] == "web_session_end"]
    intent = pd.read_parquet(mart_location(feast_world.marts_dir, "fct_customer_web_intent"))
    intent["as_of_ts"] = pd.to_datetime(intent["as_of_ts"], utc=True).astype("datetime64[ns, UTC]")
    first = intent.groupby("customer_id")["as_of_ts"].min().rename("first_web_ts")
    profiles = pd.read_parquet(mart_location(feast_world.marts_dir, "dim_customer_profiles"), columns=["customer_id", "snapshot_ts"])
    first_profile = pd.to_datetime(profiles["snapshot_ts"], utc=True).groupby(profiles["customer_id"]).min().rename("first_profile_ts")
    joined = (
        labels.merge(intent, left_on=["session_id", "customer_id"], right_on=["web_session_id", "customer_id"])
        .merge(first, on="customer_id")
        .merge(first_profile, on="customer_id")
    )
    assert len(joined) >= 50, "the small world needs linked web sessions for this test"
    return joined.head(400).reset_index(drop=True)


def values(column: pd.Series) -> list:
    return [None if pd.isna(value) else value for value in column]


def fetch(settings: Settings, rows: pd.DataFrame) -> pd.DataFrame:
    return historical_features(feature_store(settings), SERVICE, rows[["session_id", "customer_id", "observation_ts"]], CONVERSION_LABELS)


def test_at_the_label_time_the_sessions_own_aggregates_are_joined(feast_world: Settings, web_labels: pd.DataFrame) -> None:
    joined = fetch(feast_world, web_labels)
    for column in WEB_COLUMNS:
        assert list(joined[column]) == list(web_labels[column]), column


def test_labels_moved_before_the_first_linked_session_get_no_web_features(feast_world: Settings, web_labels: pd.DataFrame) -> None:
    moved = web_labels.assign(observation_ts=web_labels["first_web_ts"] - TICK)
    joined = fetch(feast_world, moved)
    for column in WEB_COLUMNS:
        assert joined[column].isna().all(), column
    # The profile is older than the first web session for most customers, and stays joined.
    has_profile = (moved["first_profile_ts"] <= moved["observation_ts"]).to_numpy()
    assert has_profile.any()
    assert joined.loc[has_profile, "customer_segment"].notna().all()


def test_labels_moved_just_before_their_session_get_the_previous_aggregates(feast_world: Settings, web_labels: pd.DataFrame) -> None:
    moved = web_labels.assign(observation_ts=web_labels["as_of_ts"] - TICK)
    joined = fetch(feast_world, moved)
    # What was known a microsecond earlier: the customer's previous linked session's row (if it
    # is within the 30-day ttl), never the row of the session that ends at the label time.
    intent = pd.read_parquet(
        mart_location(feast_world.marts_dir, "fct_customer_web_intent"), columns=["customer_id", "as_of_ts", *WEB_COLUMNS]
    )
    intent["as_of_ts"] = pd.to_datetime(intent["as_of_ts"], utc=True).astype("datetime64[ns, UTC]")
    previous = (
        pd.merge_asof(
            moved[["observation_ts", "customer_id"]]
            .astype({"observation_ts": "datetime64[ns, UTC]"})
            .reset_index()
            .sort_values("observation_ts"),
            intent.sort_values("as_of_ts"),
            left_on="observation_ts",
            right_on="as_of_ts",
            by="customer_id",
            direction="backward",
            tolerance=pd.Timedelta(days=30),
        )
        .set_index("index")
        .sort_index()
    )
    assert (previous["as_of_ts"].dropna() < web_labels.loc[previous["as_of_ts"].notna(), "as_of_ts"]).all()
    for column in WEB_COLUMNS:
        assert values(joined[column]) == values(previous[column]), column
    first_session = (web_labels["as_of_ts"] == web_labels["first_web_ts"]).to_numpy()
    assert first_session.any() and joined.loc[first_session, "n_linked_sessions_30d"].isna().all()
    later_session = previous["as_of_ts"].notna().to_numpy()
    assert later_session.any()  # some customers had an earlier session: their earlier values are joined
    assert (
        joined.loc[later_session, "total_dwell_s_30d"].to_numpy() != web_labels.loc[later_session, "total_dwell_s_30d"].to_numpy()
    ).all()


def test_labels_moved_before_the_first_profile_snapshot_get_no_profile(feast_world: Settings, web_labels: pd.DataFrame) -> None:
    moved = web_labels.assign(observation_ts=web_labels["first_profile_ts"] - TICK)
    joined = fetch(feast_world, moved)
    assert joined["customer_segment"].isna().all() and joined["tenure_months"].isna().all()


def test_no_training_row_holds_a_web_feature_from_after_its_label(feast_world: Settings) -> None:
    """Every web aggregate in the tile training set is the latest source row at or before the impression."""
    training_set = build_training_set(feast_world, feature_store(feast_world), "tile", TILE_LABELS, "tile_ranker_f_web_aggregates")
    rows = training_set.frame[["impression_ts", "customer_id", *WEB_COLUMNS]].reset_index()
    intent = pd.read_parquet(
        mart_location(feast_world.marts_dir, "fct_customer_web_intent"), columns=["customer_id", "as_of_ts", *WEB_COLUMNS]
    )
    intent["as_of_ts"] = pd.to_datetime(intent["as_of_ts"], utc=True).astype("datetime64[ns, UTC]")
    intent = intent.sort_values("as_of_ts")

    def as_of(direction: str, allow_exact: bool) -> pd.DataFrame:
        return (
            pd.merge_asof(
                rows[["index", "impression_ts", "customer_id"]]
                .astype({"impression_ts": "datetime64[ns, UTC]"})
                .sort_values("impression_ts"),
                intent,
                left_on="impression_ts",
                right_on="as_of_ts",
                by="customer_id",
                direction=direction,
                allow_exact_matches=allow_exact,
                tolerance=pd.Timedelta(days=30),
            )
            .set_index("index")
            .sort_index()
        )

    past = as_of("backward", True)
    with_web = rows["n_linked_sessions_30d"].notna().to_numpy()
    assert with_web.sum() > 100
    # Values joined = the latest source row at or before the label time...
    assert (past.loc[with_web, "as_of_ts"] <= rows.loc[with_web, "impression_ts"].to_numpy()).all()
    for column in WEB_COLUMNS:
        assert list(rows.loc[with_web, column]) == list(past.loc[with_web, column]), column
    # ...and rows with no such source row have none joined.
    assert past.loc[~with_web, "as_of_ts"].isna().all()
    # The check can fail: the next source row after the label (what a leaky join would take)
    # differs from the joined values for many rows.
    future = as_of("forward", False)
    has_future = future["as_of_ts"].notna().to_numpy() & with_web
    assert has_future.sum() > 20
    differs = rows.loc[has_future, "n_events_30d"].to_numpy() != future.loc[has_future, "n_events_30d"].to_numpy()
    assert differs.mean() > 0.5
