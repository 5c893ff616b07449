"""The synthetic world in Snowplow, GA4 and Segment shapes: each built through its dbt adapter
gives the same feast-tagged marts as the world built from the contract."""

from __future__ import annotations

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from clickintent.cli.main import app
from clickintent.features.partitioned_marts import mart_location
from clickintent.synth import build_world
from clickintent.synth.formats import shaped_raw_tables
from clickintent.taxonomy.inputs import load_pages
from support.source_shapes import build_shaped_world, feast_mart_names, mart_differences


@pytest.fixture(scope="module")
def small_world():
    return build_world(seed=7, target_events=2_000)


def test_contract_format_is_the_world_itself(small_world):
    assert shaped_raw_tables(small_world.raw, "contract") is small_world.raw


def test_unknown_format_is_refused(small_world):
    with pytest.raises(ValueError, match="unknown format 'matomo'; one of contract, snowplow, ga4, segment"):
        shaped_raw_tables(small_world.raw, "matomo")


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (["--format", "matomo"], "'matomo' is not one of 'contract', 'snowplow', 'ga4', 'segment'"),
        (["--launch-day", "30"], "only with --launch"),
    ],
    ids=["unknown-format", "launch-day-alone"],
)
def test_generate_refuses_bad_options_before_writing_anything(tmp_path, arguments, said):
    result = CliRunner().invoke(app, ["generate", "--events", "100", "--data-dir", str(tmp_path / "data"), *arguments])
    assert result.exit_code == 2
    assert said in " ".join(result.output.replace("│", " ").split())
    assert not (tmp_path / "data").exists()


def test_snowplow_writes_a_page_ping_at_the_end_of_each_dwell(small_world):
    events = small_world.raw["events"]
    snowplow = shaped_raw_tables(small_world.raw, "snowplow")["snowplow_events"]
    assert "events" not in shaped_raw_tables(small_world.raw, "snowplow")
    with duckdb.connect() as connection:
        connection.register("events", events)
        connection.register("snowplow", snowplow)
        (mismatched,) = connection.execute(
            "select count(*) from events e join snowplow p on p.event_id = 'pp_' || e.event_id "
            "where p.event <> 'page_ping' or epoch_us(p.derived_tstamp) - epoch_us(e.event_ts) <> e.dwell_ms * 1000"
        ).fetchone()
        (pings,) = connection.execute("select count(*) from snowplow where event = 'page_ping'").fetchone()
        (app_with_web_cookie,) = connection.execute(
            "select count(*) from snowplow where platform = 'mob' and domain_userid is not null"
        ).fetchone()
    assert pings == events.num_rows - events.column("dwell_ms").null_count
    assert mismatched == 0 and app_with_web_cookie == 0


def test_ga4_event_params_are_nested_key_value_structs(small_world, tmp_path):
    ga4 = shaped_raw_tables(small_world.raw, "ga4")["ga4_events"]
    pq.write_table(ga4, tmp_path / "ga4.parquet")
    params = pq.read_schema(tmp_path / "ga4.parquet").field("event_params").type
    assert str(params.value_type) == (
        "struct<key: string, value: struct<string_value: string, int_value: int64, float_value: double, double_value: double>>"
    )
    assert set(ga4.column("platform").to_pylist()) == {"WEB", "IOS", "ANDROID"}


def test_segment_splits_calls_by_kind(small_world):
    segment = shaped_raw_tables(small_world.raw, "segment")
    events = small_world.raw["events"].to_pandas()
    assert segment["segment_pages"].num_rows == (events.event_type == "page_view").sum()
    assert segment["segment_screens"].num_rows == (events.event_type == "screen_view").sum()
    assert segment["segment_identifies"].num_rows == (events.event_type == "login").sum()
    assert sum(table.num_rows for name, table in segment.items() if name.startswith("segment_")) == len(events)


@pytest.fixture(scope="module")
def contract_build(tmp_path_factory):
    return build_shaped_world(tmp_path_factory.mktemp("contract_shape"), "contract")


@pytest.mark.slow
@pytest.mark.parametrize("shape", ["snowplow", "ga4", "segment"])
def test_marts_built_through_the_adapter_equal_the_contract_build(shape, contract_build, tmp_path):
    shaped = build_shaped_world(tmp_path, shape)
    assert not (shaped.raw_dir / "events.parquet").exists(), "the build must read the tracker's tables"
    names = feast_mart_names(contract_build)
    assert len(names) >= 10 and feast_mart_names(shaped) == names
    assert all(pq.read_table(mart_location(contract_build.marts_dir, name)).num_rows > 0 for name in names)
    problems = [problem for name in names for problem in mart_differences(contract_build, shaped, name)]
    assert not problems, "\n".join(problems)
    # The taxonomy's pages come through dbt's staging for a tracker's events: the same pages.
    pd.testing.assert_frame_equal(load_pages(shaped), load_pages(contract_build))
