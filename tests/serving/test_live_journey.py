"""A visitor's journey brought up to a live session in Python equals the row dbt builds as of that
session's end (fct_visitor_journeys): the anonymous ranker trains on dbt's rows and is served on
the live ones."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from clickintent.serving.live_features import PageTaxonomy, journey_row, session_aggregates
from clickintent.settings import Settings
from support.marts import mart_glob
from support.serving_world import session_events

ROWS_COMPARED = 60
COUNTS = (
    "n_sessions_30d",
    "n_events_30d",
    "n_calculator_events_30d",
    "n_form_starts_30d",
    "n_form_submits_30d",
    "n_product_events_30d",
    "n_searches_30d",
)


def _journey_rows(settings: Settings) -> pd.DataFrame:
    """Web journey rows, each with the visitor's previous row's values as prev_* (null for a first session)."""
    with duckdb.connect() as connection:
        return connection.execute(
            "select *, lag(as_of_ts) over visitor as prev_as_of_ts, lag(n_sessions_30d) over visitor as prev_n_sessions "
            "from read_parquet(?) where platform = 'web' window visitor as (partition by visitor_id order by as_of_ts) "
            "order by visitor_id, as_of_ts",
            [mart_glob(settings.marts_dir, "fct_visitor_journeys")],
        ).df()


def _check(live: dict, batch: dict) -> None:
    for name in COUNTS:
        assert live[name] == batch[name], name
    for name in ("days_since_first_session_30d", "days_since_previous_session"):
        expected = batch[name]
        if expected is None or expected != expected:
            assert live[name] is None, name
        else:
            assert live[name] == pytest.approx(float(expected), abs=1e-6), name
    assert live["taxonomy_node_shares_30d"] == pytest.approx(list(batch["taxonomy_node_shares_30d"]), abs=0.02)


def test_a_first_visit_is_the_sessions_own_journey(pipeline_world: Settings) -> None:
    taxonomy = PageTaxonomy.load(pipeline_world.taxonomy_dir, pipeline_world.marts_dir)
    rows = _journey_rows(pipeline_world)
    first = rows[rows["prev_as_of_ts"].isna()].head(ROWS_COMPARED)
    assert len(first) == ROWS_COMPARED
    for batch in first.to_dict(orient="records"):
        aggregates = session_aggregates(session_events(pipeline_world, batch["session_id"]), taxonomy)
        live = journey_row({}, None, aggregates, taxonomy)
        _check(live, batch)
        assert live["top_taxonomy_node_id_30d"] == batch["top_taxonomy_node_id_30d"]


def test_a_returning_visitors_stored_journey_plus_the_live_session_is_dbts_next_row(pipeline_world: Settings) -> None:
    taxonomy = PageTaxonomy.load(pipeline_world.taxonomy_dir, pipeline_world.marts_dir)
    rows = _journey_rows(pipeline_world)
    stored_by_key = {(row["visitor_id"], row["as_of_ts"]): row for row in rows.to_dict(orient="records")}
    # Returning visits where no earlier session fell out of the 30 days (the live merge does not re-cut the window).
    returning = rows[rows["prev_as_of_ts"].notna() & (rows["n_sessions_30d"] == rows["prev_n_sessions"] + 1)].head(ROWS_COMPARED)
    assert len(returning) >= ROWS_COMPARED // 2
    for batch in returning.to_dict(orient="records"):
        stored = stored_by_key[(batch["visitor_id"], batch["prev_as_of_ts"])]
        aggregates = session_aggregates(session_events(pipeline_world, batch["session_id"]), taxonomy)
        live = journey_row(stored, stored["as_of_ts"].to_pydatetime(), aggregates, taxonomy)
        _check(live, batch)
