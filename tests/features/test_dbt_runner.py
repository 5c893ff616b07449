"""The dbt runner: failed builds keep the previous marts, empty inputs, clear errors."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from clickintent.features.dbt import dbt_target_dir, manifest_path, run_dbt_build
from clickintent.features.partitioned_marts import mart_location
from clickintent.settings import load_settings
from support.marts import mart_hashes
from support.raw_world import write_fixture_world


def test_missing_raw_events_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no raw events at .*events\.parquet.*clickintent generate"):
        run_dbt_build(load_settings(data_dir=tmp_path / "empty"))


@pytest.mark.slow
def test_failed_build_keeps_the_previous_marts(tmp_path):
    data_dir = tmp_path / "data"
    write_fixture_world(data_dir)
    settings = load_settings(data_dir=data_dir)
    first = run_dbt_build(settings, quiet=True)
    assert first.success, first.summary()
    before = mart_hashes(settings.marts_dir)

    # New input that dbt half-builds: products change (dim_products is rebuilt first), and a
    # duplicated event, written past the loader's validation, shares its event_key (the hash
    # of event_id) with the original: the join back gives more rows than there are events,
    # which fails int_sessions_join_back_is_one_to_one, so every session mart is skipped.
    raw = settings.raw_dir
    products = pq.read_table(raw / "products.parquet")
    products = products.set_column(1, "product_name", pc.utf8_upper(products.column("product_name")))
    pq.write_table(products, raw / "products.parquet")
    events = pq.read_table(raw / "events.parquet")
    pq.write_table(pa.concat_tables([events, events.slice(0, 1)]), raw / "events.parquet")
    # ... and one customer snapshot without a segment (segments are an open set, but one is
    # required) fails the model's row_checks test (one failing row), which skips dim_customer_profiles
    customers = pq.read_table(raw / "customers.parquet")
    segments = customers.column("segment").to_pylist()
    segments[0] = None
    customers = customers.set_column(customers.schema.get_field_index("segment"), "segment", pa.array(segments, pa.string()))
    pq.write_table(customers, raw / "customers.parquet")

    failed = run_dbt_build(settings, quiet=True)
    assert not failed.success
    failing = {node.name: node for node in failed.failures}
    assert failing["int_sessions_join_back_is_one_to_one"].failures == 1
    assert failing["stg_customers_rows_are_valid"].failures == 1
    assert any(node.status == "skipped" and node.name == "dim_customer_profiles" for node in failed.nodes)
    assert any(node.status == "skipped" and node.name == "fct_web_sessions" for node in failed.nodes)
    assert any(node.status == "success" and node.name == "dim_products" for node in failed.nodes)  # dbt did rewrite it
    assert mart_hashes(settings.marts_dir) == before  # ... and the previous set is back
    assert "FAILED" in failed.summary() and "int_sessions_join_back_is_one_to_one" in failed.summary()
    assert "previous marts were kept" in failed.summary()
    assert not list(data_dir.glob(".marts.*"))  # no staging set left behind


@pytest.mark.slow
def test_world_without_taxonomy_or_labels_builds_empty_label_marts(tmp_path):
    data_dir = tmp_path / "data"
    write_fixture_world(data_dir, include_page_map=False, include_labels=False)
    settings = load_settings(data_dir=data_dir, session_timeout_minutes=45)
    result = run_dbt_build(settings, quiet=True)
    assert result.success, result.summary()
    # dbt-duckdb would write one all-NULL row for an empty model; our external materialization does not
    for mart in ("fct_tile_impressions", "dim_customer_profiles"):
        table = pq.read_table(mart_location(settings.marts_dir, mart))
        assert table.num_rows == 0 and "customer_id" in table.column_names
    labels = pq.read_table(mart_location(settings.marts_dir, "fct_conversion_labels")).to_pylist()
    assert labels and {row["label_product_family"] for row in labels} == {"none"}
    # without a page map every node is a URL section (or 'unknown')
    nodes = pq.read_table(settings.marts_dir / "dim_taxonomy_top_nodes.parquet").column("top_taxonomy_node_id").to_pylist()
    assert all(node.startswith("section:") or node == "unknown" for node in nodes) and "section:mortgages" in nodes
    # the settings' timeout reaches dbt: with 45 minutes, v_shuffled's 45-minute gap still splits
    # (a gap of exactly the timeout starts a session) and v_gap's 30-minute gap no longer does
    sequences = pq.read_table(mart_location(settings.marts_dir, "fct_session_sequences")).to_pylist()
    by_visitor = {}
    for row in sequences:
        by_visitor.setdefault(row["anonymous_id"], []).append(row["event_ids"])
    assert sorted(by_visitor["v_gap"]) == [["gap_1", "gap_2", "gap_3", "gap_4"], ["gap_5"]]
    assert len(by_visitor["v_shuffled"]) == 2


@pytest.mark.slow
def test_manifest_is_parsed_without_data_and_carries_the_feast_metadata(tmp_path):
    settings = load_settings(data_dir=tmp_path / "no_data_yet")
    path = manifest_path(settings, refresh=True)  # dbt parse reads the project, not the data
    assert path == dbt_target_dir(settings) / "manifest.json"
    nodes = json.loads(path.read_text())["nodes"]
    web_sessions = nodes["model.clickintent.fct_web_sessions"]
    assert web_sessions["config"]["meta"]["feast"]["feature_view"] == "web_session_stats"
    assert web_sessions["columns"]["web_session_id"]["config"]["meta"] == {"feast": {"feature": False}}
    assert web_sessions["columns"]["taxonomy_node_shares"]["data_type"] == "float[]"
