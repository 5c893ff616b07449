"""The dbt project on a small synthetic world, checked against the world's hidden ground truth.

The generator writes the true sessions and bot flags apart from the raw tables (evaluation
only). Sessionization must recover every true session exactly, the bot rule must remove every
bot session and no human one, and every login link must name the visitor's true customer.
"""

from __future__ import annotations

import duckdb
import pytest

from clickintent.features.dbt import run_dbt_build
from clickintent.features.partitioned_marts import mart_location, parquet_pattern
from clickintent.settings import load_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from clickintent.synth import generate_world

    settings = load_settings(data_dir=tmp_path_factory.mktemp("synthetic") / "data")
    generate_world(settings, target_events=30_000)
    result = run_dbt_build(settings, quiet=True)
    assert result.success, result.summary()
    connection = duckdb.connect(str(settings.warehouse_path), read_only=True)
    truth = settings.ground_truth_dir
    connection.execute(f"create temp view true_event_sessions as select * from read_parquet('{truth / 'event_sessions.parquet'}')")
    connection.execute(f"create temp view true_sessions as select * from read_parquet('{truth / 'session_intents.parquet'}')")
    connection.execute(f"create temp view true_visitors as select * from read_parquet('{truth / 'visitor_intents.parquet'}')")
    connection.execute(
        f"create temp view links as select * from read_parquet('{parquet_pattern(mart_location(settings.marts_dir, 'fct_web_login_links'))}')"
    )
    yield connection
    connection.close()


def test_sessionization_recovers_the_true_sessions(world):
    ours_spanning, true_split, n_ours, n_true = world.execute(
        """
        with pairs as (
            select sessions.session_id, truth.true_session_id
            from int_events_sessionized as ours
            join int_sessions as sessions using (visitor_key, session_start_us)
            join true_event_sessions as truth on hash(truth.event_id) = ours.event_key
        )
        select
            (select count(*) from (select session_id from pairs group by 1 having count(distinct true_session_id) > 1)),
            (select count(*) from (select true_session_id from pairs group by 1 having count(distinct session_id) > 1)),
            (select count(distinct session_id) from pairs),
            (select count(*) from true_sessions)
        """
    ).fetchone()
    assert (ours_spanning, true_split) == (0, 0)
    assert n_ours == n_true > 1000


def test_bot_rule_removes_bots_and_only_bots(world):
    rows = world.execute(
        """
        with session_truth as (
            select sessions.session_id, any_value(truth.true_session_id) as true_session_id
            from int_events_sessionized as ours
            join int_sessions as sessions using (visitor_key, session_start_us)
            join true_event_sessions as truth on hash(truth.event_id) = ours.event_key
            group by sessions.session_id
        )
        select sessions.session_class <> 'kept' as filtered, true_sessions.is_bot, count(*)
        from int_sessions as sessions
        join session_truth using (session_id)
        join true_sessions using (true_session_id)
        group by all
        """
    ).fetchall()
    counts = {(filtered, is_bot): n for filtered, is_bot, n in rows}
    assert counts.get((True, True), 0) > 0
    assert counts.get((False, True), 0) == 0, "a bot session reached the marts"
    assert counts.get((True, False), 0) == 0, "a human session was filtered"


def test_login_links_name_the_true_customer(world):
    wrong, total = world.execute(
        """
        select count(*) filter (where links.customer_id is distinct from visitors.customer_id), count(*)
        from links join true_visitors as visitors using (anonymous_id)
        """
    ).fetchone()
    assert total > 0 and wrong == 0
