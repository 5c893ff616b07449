"""dbt build of the real project on the fixture world (tests/fixtures/raw_world.py), in DuckDB.

One build per module (dbt start-up costs seconds); every test reads its marts. The crafted
cases of the fixture world make each rule observable: sessionization edges, bots, the login
link, the 30-day window, the 14-day conversion window, the taxonomy mapping.
"""

from __future__ import annotations

import hashlib
import shutil
from datetime import timedelta

import duckdb
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from clickintent.features.dbt import run_dbt_build
from clickintent.features.mart_equality import marts_in
from clickintent.features.partitioned_marts import mart_location
from clickintent.settings import load_settings
from support.marts import mart_glob, mart_hashes
from support.raw_world import DAY, T0, write_fixture_world

pytestmark = pytest.mark.slow

MARTS = (
    "dim_customer_profiles",
    "dim_products",
    "dim_taxonomy_top_nodes",
    "fct_anonymous_session_outcomes",
    "fct_conversion_labels",
    "fct_customer_app_intent",
    "fct_customer_web_intent",
    "fct_session_filter_counts",
    "fct_session_sequences",
    "fct_tile_impressions",
    "fct_visitor_journeys",
    "fct_web_login_links",
    "fct_web_sessions",
)
L0 = T0 + 5 * DAY  # first linked web session end of customer c_001 (see the fixture)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("dbt_world") / "data"
    write_fixture_world(data_dir)
    settings = load_settings(data_dir=data_dir)
    result = run_dbt_build(settings, quiet=True)
    assert result.success, result.summary()
    return settings, result


@pytest.fixture(scope="module")
def query(built):
    settings, _ = built
    connection = duckdb.connect()
    for mart in MARTS:
        connection.execute(f"create view {mart} as select * from read_parquet('{mart_glob(settings.marts_dir, mart)}')")

    def run(sql: str) -> list[tuple]:
        return connection.execute(sql).fetchall()

    yield run
    connection.close()


def test_build_runs_models_data_tests_and_unit_tests(built):
    _, result = built
    counts = result.counts()
    assert counts["model"] == {"success": 36}
    # one row_checks test per model (not-null, accepted values, row conditions) plus dbt's
    # unique and relationships tests
    assert set(counts["test"]) == {"pass"} and counts["test"]["pass"] >= 40
    data_tests = {node.name for node in result.of_type("test")}
    assert {f"{model}_rows_are_valid" for model in MARTS} <= data_tests
    assert {"int_sessions_join_back_is_one_to_one", "int_sessions_visitor_keys_do_not_collide"} <= data_tests
    unit_tests = {node.name: node.status for node in result.of_type("unit_test")}
    for edge in (
        "gap_of_exactly_the_timeout_starts_a_new_session",
        "across_midnight_stays_one_session",
        "single_events_and_platforms_apart",
        "out_of_order_rows_and_ties",
    ):
        assert unit_tests[f"test_sessionize_{edge}"] == "pass"
    assert unit_tests["test_sessions_order_events_by_time_then_event_id"] == "pass"
    assert unit_tests["test_bot_rule_classifies_sessions"] == "pass"
    assert unit_tests["test_customer_web_intent_trailing_30_days"] == "pass"
    assert unit_tests["test_identity_free_mode_links_no_web_session"] == "pass"
    for journey_rule in (
        "test_login_stitches_the_cookies_earlier_anonymous_sessions",
        "test_stitch_window_of_zero_days_links_the_login_session_alone",
        "test_customer_web_intent_counts_stitched_sessions_from_the_login",
        "test_visitor_journey_is_as_of_each_session_end",
        "test_customer_app_intent_is_as_of_each_app_session_end",
    ):
        assert unit_tests[journey_rule] == "pass"
    assert "succeeded" in result.summary() and "unit tests: 15 pass" in result.summary()


def test_marts_are_parquet_with_utc_timestamps(built):
    settings, _ = built
    assert marts_in(settings.marts_dir) == sorted(MARTS)
    # the event-scale marts are directories of one file per UTC day of their timestamp
    partitioned = {path.name for path in settings.marts_dir.iterdir() if path.is_dir()}
    assert partitioned == {
        "fct_session_sequences",
        "fct_web_sessions",
        "fct_visitor_journeys",
        "fct_anonymous_session_outcomes",
        "fct_customer_app_intent",
        "fct_conversion_labels",
        "fct_tile_impressions",
        "dim_customer_profiles",
        "fct_web_login_links",
        "fct_customer_web_intent",
    }
    sequences = pq.read_table(mart_location(settings.marts_dir, "fct_session_sequences")).to_pandas()
    days = sorted(path.stem for path in (settings.marts_dir / "fct_session_sequences").iterdir())
    assert days == sorted(sequences["session_start_ts"].dt.tz_convert("UTC").dt.strftime("%Y-%m-%d").unique())
    for mart in MARTS:
        schema = ds.dataset(mart_location(settings.marts_dir, mart)).schema
        timestamps = [field for field in schema if str(field.type).startswith("timestamp")]
        assert all(field.type.tz == "UTC" for field in timestamps), (mart, timestamps)
    assert not (settings.data_dir / ".marts.previous").exists()


def _sessions_of(query, anonymous_id: str) -> list[list[str]]:
    rows = query(f"select event_ids from fct_session_sequences where anonymous_id = '{anonymous_id}' order by session_start_ts")
    return [row[0] for row in rows]


def test_sessionization_edges(query):
    # 10 min gap: same session; exactly 30 min: new; 29 min 59 s: same; 80 min: new
    assert _sessions_of(query, "v_gap") == [["gap_1", "gap_2"], ["gap_3", "gap_4"], ["gap_5"]]
    # 23:50 -> 00:20 the next day is one session
    assert _sessions_of(query, "v_midnight") == [["mid_1", "mid_2", "mid_3", "mid_4"]]
    assert _sessions_of(query, "v_single") == [["single_1"]]
    # stored out of order; the tie at 09:52 goes to the lower event_id
    assert _sessions_of(query, "v_shuffled") == [["shuf_1", "shuf_2"], ["shuf_3", "shuf_0", "shuf_4"]]
    gaps = query("select gap_ms from fct_session_sequences where anonymous_id = 'v_shuffled' order by session_start_ts")
    assert [row[0] for row in gaps] == [[0, 300_000], [0, 120_000, 0]]
    # ids are md5(platform|anonymous_id|first event_id), the same in both marts
    expected = hashlib.md5(b"web|v_gap|gap_3").hexdigest()
    assert query(f"select count(*) from fct_web_sessions where web_session_id = '{expected}' and n_events = 2") == [(1,)]
    app = query("select platform, n_events from fct_session_sequences where anonymous_id = 'd_c001'")
    assert app == [("app", 3), ("app", 3)]


def test_bots_and_junk_are_filtered_and_counted(query):
    for visitor in ("v_bot_fast_dwell", "v_bot_burst", "v_junk"):
        assert query(f"select count(*) from fct_session_sequences where anonymous_id = '{visitor}'") == [(0,)]
        assert query(f"select count(*) from fct_web_sessions where anonymous_id = '{visitor}'") == [(0,)]
    counts = dict(query("select session_class, n_sessions from fct_session_filter_counts where platform = 'web'"))
    assert counts["bot_fast_dwell"] == 1 and counts["bot_burst"] == 1 and counts["junk_unknown_pages"] == 1
    assert counts["kept"] == query("select count(*) from fct_web_sessions")[0][0]
    events = dict(query("select session_class, n_events from fct_session_filter_counts where platform = 'web'"))
    assert events["bot_fast_dwell"] == 25 and events["bot_burst"] == 15 and events["junk_unknown_pages"] == 2


def test_login_links_web_sessions_to_the_customer(query):
    links = query(
        "select anonymous_id, customer_id, linked_at_ts, session_end_ts, link_method from fct_web_login_links order by linked_at_ts"
    )
    assert [row[:2] for row in links] == [("v_login", "c_001")] * 2 + [("v_login_phone", "c_001")] * 2
    assert all(row[2] == row[3] and row[4] == "web_session_login" for row in links)  # the login ends each session
    assert [row[3] for row in links] == [L0, L0 + 10 * DAY, L0 + 30 * DAY, L0 + 45 * DAY]
    linked = query("select anonymous_id from fct_web_sessions where customer_id is not null group by all order by 1")
    assert linked == [("v_login",), ("v_login_phone",)]
    assert query("select bool_and(ends_in_login and has_login) from fct_web_sessions where customer_id is not null") == [(True,)]
    assert query("select count(*) from fct_web_sessions where anonymous_id = 'v_prospect' and customer_id is null") == [(1,)]


def test_customer_web_intent_trailing_30_days(query):
    rows = query(
        "select as_of_ts, n_linked_sessions_30d, n_events_30d, n_searches_30d, top_taxonomy_node_id_30d "
        "from fct_customer_web_intent where customer_id = 'c_001' order by as_of_ts"
    )
    # linked sessions end at L0, +10d, +30d (exactly 30 days after L0: inside) and +45d
    assert [row[0] for row in rows] == [L0, L0 + 10 * DAY, L0 + 30 * DAY, L0 + 45 * DAY]
    assert [row[1] for row in rows] == [1, 2, 3, 2]
    assert [row[2] for row in rows] == [4, 8, 12, 8]  # four events per linked session
    assert [row[3] for row in rows] == [1, 2, 3, 2]
    # two of four events per session are on home_buying pages in the page map
    assert {row[4] for row in rows} == {"home_buying"}
    shares = query(
        "select taxonomy_node_shares_30d[(select top_node_position from dim_taxonomy_top_nodes "
        "where top_taxonomy_node_id = 'home_buying')] from fct_customer_web_intent"
    )
    assert all(abs(row[0] - 0.5) < 1e-6 for row in shares)


def test_conversion_labels_use_the_14_day_window(query):
    rows = {
        (row[0], row[1]): row[2:]
        for row in query(
            "select observation_point, observation_ts, label_product_family, converted_product_families, "
            "n_conversions from fct_conversion_labels where customer_id = 'c_001'"
        )
    }
    # conversions of c_001: home at L0+3d, investing at L0+5d, cards at L0+24d
    assert rows[("web_session_end", L0)] == ("home", ["home", "investing"], 2)
    assert rows[("web_session_end", L0 + 10 * DAY)] == ("cards", ["cards"], 1)  # exactly 14 days later: inside
    assert rows[("web_session_end", L0 + 30 * DAY)] == ("none", [], 0)
    assert rows[("app_session_start", L0 + 1 * DAY)] == ("home", ["home", "investing"], 2)
    assert rows[("app_session_start", L0 + 12 * DAY)] == ("cards", ["cards"], 1)
    data_end = query("select max(session_end_ts) from fct_session_sequences")[0][0]
    completeness = query("select observation_ts, label_window_complete from fct_conversion_labels")
    assert all(complete == (observed + timedelta(days=14) <= data_end) for observed, complete in completeness)
    assert query("select count(*) from fct_conversion_labels where customer_id = 'c_002'") == [(0,)]  # no sessions


def test_taxonomy_mapping_and_shares(query):
    nodes = query("select top_node_position, top_taxonomy_node_id, mapping_source from dim_taxonomy_top_nodes order by 1")
    assert [row[0] for row in nodes] == list(range(1, len(nodes) + 1))
    ids = [row[1] for row in nodes]
    assert ids == sorted(ids) and {"home_buying", "refinancing", "travel_rewards", "section:cards", "unknown"} <= set(ids)
    # the page map wins; pages outside it fall back to their URL section
    first = query("select page_paths, taxonomy_node_ids, top_taxonomy_node_ids from fct_session_sequences where event_ids[1] = 'gap_1'")
    assert first == [(["/", "/mortgages/rates"], ["section:home", "home_buying.rates"], ["section:home", "home_buying"])]
    shares = query(
        "select taxonomy_node_shares, top_taxonomy_node_id, top_taxonomy_node_share from fct_web_sessions "
        f"where web_session_id = '{hashlib.md5(b'web|v_gap|gap_1').hexdigest()}'"
    )[0]
    by_node = dict(zip(ids, shares[0]))
    assert by_node["section:home"] == pytest.approx(0.5) and by_node["home_buying"] == pytest.approx(0.5)
    assert sum(shares[0]) == pytest.approx(1.0)
    assert shares[1] == "home_buying" and shares[2] == 0.5  # tie -> the lower position ("home_buying" < "section:home")


def test_search_queries_reach_the_marts_redacted(query):
    queries = [q for row in query("select search_queries from fct_session_sequences") for q in row[0] if q is not None]
    assert "refinance [EMAIL] acct [ACCOUNT]" in queries
    assert not any("@" in q or "1234" in q for q in queries)


def test_customer_profiles_are_point_in_time(query):
    rows = query(
        "select snapshot_ts, n_held_products, held_product_families, n_conversions_before_snapshot "
        "from dim_customer_profiles where customer_id = 'c_001' order by snapshot_ts"
    )
    # the families of the held products, sorted, each once
    assert [row[1:] for row in rows] == [(2, ["cards", "deposits"], 0), (4, ["cards", "deposits", "home", "investing"], 2)]


def test_rebuild_gives_identical_marts(built, tmp_path):
    settings, _ = built
    before = mart_hashes(settings.marts_dir)
    copy = tmp_path / "data"
    shutil.copytree(settings.data_dir, copy)
    rebuilt = run_dbt_build(load_settings(data_dir=copy), quiet=True)
    assert rebuilt.success, rebuilt.summary()
    assert mart_hashes(copy / "marts") == before
    assert {name.split("/")[0] for name in before} == set(MARTS)
