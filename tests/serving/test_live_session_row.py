"""A live web session's fct_web_sessions row, computed in Python from its raw events, equals the
row dbt built for the same session: the anonymous ranker trains on dbt's rows and is served on
the live ones, so any difference is training/serving skew."""

from __future__ import annotations

import duckdb
import pytest

from clickintent.features.partitioned_marts import mart_location, parquet_pattern
from clickintent.serving.live_features import PageTaxonomy, session_row
from clickintent.settings import Settings
from support.serving_world import session_events

SESSIONS_COMPARED = 150
# Every column session_row gives is compared with dbt's; the shares as a vector.
SHARES = "taxonomy_node_shares"


def test_live_session_rows_equal_dbts(pipeline_world: Settings) -> None:
    taxonomy = PageTaxonomy.load(pipeline_world.taxonomy_dir, pipeline_world.marts_dir)
    with duckdb.connect() as connection:
        frame = connection.execute(
            f"select * from read_parquet(?) using sample reservoir({SESSIONS_COMPARED} rows) repeatable (7) order by web_session_id",
            [parquet_pattern(mart_location(pipeline_world.marts_dir, "fct_web_sessions"))],
        ).df()
    assert len(frame) == SESSIONS_COMPARED
    assert frame["entry_source"].nunique() >= 3 and (frame["n_events"] > 1).any()
    for batch in frame.to_dict(orient="records"):
        live = session_row(session_events(pipeline_world, batch["web_session_id"]), taxonomy)
        assert {"entry_source", "median_dwell_s", SHARES} <= set(live)
        for name, value in live.items():
            expected = batch[name]
            if name == SHARES:
                assert value == pytest.approx(list(expected), abs=1e-6)
            elif isinstance(value, str) or isinstance(expected, str):
                assert value == expected, (batch["web_session_id"], name)
            elif expected is None or expected != expected:
                assert value is None, (batch["web_session_id"], name)
            else:
                assert value == pytest.approx(float(expected), rel=1e-6, abs=1e-6), (batch["web_session_id"], name)
