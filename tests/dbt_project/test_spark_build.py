"""The dbt project on Spark (docs/spark.md) gives DuckDB's marts.

Two small worlds are built by both engines, in-process: a synthetic world of a few thousand
events, and the crafted fixture world (tests/support/raw_world.py), whose edge cases (a gap of
exactly the session timeout, events at one instant, the ends of the 30-day and 14-day windows,
bots, the login link) are where two dialects would part. Every feast-tagged mart of the Spark
build must hold the DuckDB build's rows (sorted, floats within a tolerance:
clickintent.features.mart_equality).

Needs the `spark` extra (dbt-spark, pyspark) and Java; skipped, saying which is missing, without.
"""

from __future__ import annotations

import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clickintent.artifacts import is_temporary
from clickintent.features.dbt import _dbt_args, _invoke, dbt_target_dir, run_dbt_build, spark_marts_dir, verify_spark_marts
from clickintent.features.mart_equality import compare_marts
from clickintent.settings import Settings, load_settings
from support.raw_world import write_fixture_world
from support.spark_worlds import build_with_both, needs_spark, world_settings

pytestmark = [pytest.mark.slow, needs_spark]


@pytest.fixture(scope="module", params=["synthetic", "fixture"])
def built_by_both(request, tmp_path_factory) -> Settings:
    if request.param == "synthetic":
        return request.getfixturevalue("synthetic_world_on_both_engines")
    data_dir = tmp_path_factory.mktemp("spark_fixture_world") / "data"
    write_fixture_world(data_dir)
    return build_with_both(world_settings(data_dir))


def feast_marts(settings: Settings) -> list[str]:
    """The marts Feast reads, by their tag in the DuckDB build's manifest."""
    manifest = json.loads((dbt_target_dir(settings) / "manifest.json").read_text(encoding="utf-8"))
    return sorted(node["name"] for node in manifest["nodes"].values() if node["resource_type"] == "model" and "feast" in node["tags"])


def test_every_feast_mart_spark_builds_equals_duckdbs(built_by_both: Settings) -> None:
    marts = feast_marts(built_by_both)
    assert len(marts) >= 10
    assert compare_marts(built_by_both.marts_dir, spark_marts_dir(built_by_both), marts) == {}


def test_the_compared_marts_hold_rows(built_by_both: Settings) -> None:
    """Two empty marts are equal and prove nothing: the session marts must have rows."""
    for mart in ("fct_web_sessions", "fct_session_sequences", "fct_visitor_journeys", "fct_conversion_labels"):
        assert pq.read_table(spark_marts_dir(built_by_both) / mart).num_rows > 0, mart


def test_a_tracker_shape_stops_the_spark_build_naming_why(tmp_path) -> None:
    settings = load_settings(environ={}, data_dir=tmp_path / "data", threads=1, source_shape="snowplow")
    outcome = _invoke(settings, _dbt_args(settings, "parse", target="spark"))
    assert not outcome.success
    assert "source_shape 'snowplow' is built on DuckDB only" in str(outcome.exception)


def test_a_failed_spark_build_keeps_the_set_the_last_one_committed(synthetic_world_on_both_engines: Settings, tmp_path) -> None:
    """The Spark marts are swapped in as one set: a build that fails part-way (a product listed
    twice fails the products' unique tests, after the marts that do not read products were built)
    leaves the committed set, record and files, as it was."""
    built = synthetic_world_on_both_engines
    settings = world_settings(tmp_path / "data")
    shutil.copytree(built.raw_dir, settings.raw_dir)
    shutil.copytree(spark_marts_dir(built), spark_marts_dir(settings))  # bytes and times kept
    committed = verify_spark_marts(settings)
    assert committed is not None and any(name.startswith("fct_web_sessions/") for name in committed["files"])
    products = pq.read_table(settings.raw_dir / "products.parquet")
    pq.write_table(pa.concat_tables([products, products.slice(0, 1)]), settings.raw_dir / "products.parquet")

    result = run_dbt_build(settings, quiet=True, target="spark")
    assert not result.success
    assert any(node.name.startswith("fct_web_sessions") and node.status == "success" for node in result.nodes)
    assert verify_spark_marts(settings) == committed
    assert not [path.name for path in settings.data_dir.iterdir() if is_temporary(path)]
