"""Another team's dbt project using ours as a local package, as docs/dbt-package.md tells it to.

The host project is written here, pointed at test raw tables through the documented variables,
and built with the dbt CLI in its own directory (its own profile, warehouse and external_root).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from clickintent.features.dbt import run_dbt_build
from clickintent.features.mart_equality import marts_in
from clickintent.features.partitioned_marts import mart_location
from clickintent.settings import load_settings
from support.raw_world import write_fixture_world

pytestmark = pytest.mark.slow

DBT = str(Path(sys.executable).with_name("dbt"))
PACKAGE_DIR = Path(__file__).resolve().parents[2] / "dbt_project"

HOST_PROJECT = """\
name: host_analytics
version: "1.0.0"
config-version: 2
profile: host
model-paths: ["models"]
vars:
  clickintent_raw_location: "{lake}/raw/{{name}}.parquet"
{page_map_line}
models:
  host_analytics:
    +materialized: external
flags:
  send_anonymous_usage_stats: false
"""

HOST_PROFILE = """\
host:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: "{root}/host_warehouse.duckdb"
      external_root: "{root}/lakehouse"
      threads: 1
      # docs/dbt-package.md: the two settings our marts assume (UTC dates, rows kept in key order).
      settings:
        TimeZone: UTC
        preserve_insertion_order: true
"""

# A host model over one of our marts, and one that returns no rows (dbt-duckdb's own
# materialization writes one all-NULL row for it: our write_to_file override is for our marts only).
HOST_MODELS = {
    "host_customers_per_segment.sql": "select customer_segment, count(*) as n from {{ ref('dim_customer_profiles') }} group by 1",
    "host_no_products.sql": "select product_id from {{ ref('dim_products') }} where false",
}


def _host_project(root: Path, lake: Path, with_page_map: bool) -> Path:
    root.mkdir(parents=True)
    page_map_line = f'  clickintent_page_map_location: "{lake}/taxonomy/page_map.parquet"' if with_page_map else ""
    (root / "dbt_project.yml").write_text(HOST_PROJECT.format(lake=lake, page_map_line=page_map_line))
    (root / "profiles.yml").write_text(HOST_PROFILE.format(root=root))
    (root / "packages.yml").write_text(f"packages:\n  - local: {PACKAGE_DIR}\n")
    (root / "models").mkdir()
    for name, sql in HOST_MODELS.items():
        (root / "models" / name).write_text(sql + "\n")
    deps = _dbt(root, "deps")
    assert deps.returncode == 0, deps.stdout + deps.stderr
    return root


def _dbt(root: Path, *args: str) -> subprocess.CompletedProcess:
    # A host's shell: none of our variables set.
    environment = {key: value for key, value in os.environ.items() if not key.startswith("CLICKINTENT_")}
    return subprocess.run([DBT, *args, "--profiles-dir", str(root)], cwd=root, env=environment, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    """The host's raw tables: the fixture world's, with a taxonomy page map."""
    lake = tmp_path_factory.mktemp("host_lake")
    write_fixture_world(lake)
    return lake


def test_host_build_writes_our_marts_into_its_external_root(lake, tmp_path):
    host = _host_project(tmp_path / "host", lake, with_page_map=True)

    built = _dbt(host, "build")
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-2000:]
    assert "falls back to its URL section" not in built.stdout

    # Our marts land in the host profile's external_root, the same as our own build writes.
    ours = load_settings(environ={}, data_dir=tmp_path / "ours", threads=1)
    for table in (lake / "raw").iterdir():
        (ours.raw_dir).mkdir(parents=True, exist_ok=True)
        (ours.raw_dir / table.name).write_bytes(table.read_bytes())
    (ours.taxonomy_dir).mkdir(parents=True)
    (ours.taxonomy_dir / "page_map.parquet").write_bytes((lake / "taxonomy" / "page_map.parquet").read_bytes())
    result = run_dbt_build(ours, quiet=True)
    assert result.success, result.summary()
    # Same columns, types and rows in the same order (dbt-duckdb's materialization marks more
    # columns NOT NULL in the Parquet schema than ours does; the values are the same); the marts
    # our build writes by day are one file there, in no set order.
    own_marts = marts_in(ours.marts_dir)
    assert {"dim_customer_profiles", "fct_session_sequences", "fct_web_sessions"} <= set(own_marts)
    for name in own_marts:
        host_table, own_table = pq.read_table(host / "lakehouse" / f"{name}.parquet"), pq.read_table(mart_location(ours.marts_dir, name))
        assert [(f.name, f.type) for f in host_table.schema] == [(f.name, f.type) for f in own_table.schema], name
        if (ours.marts_dir / name).is_dir():
            assert sorted(host_table.to_pylist(), key=repr) == sorted(own_table.to_pylist(), key=repr), name
        else:
            assert host_table.to_pylist() == own_table.to_pylist(), name
    sources = duckdb.sql(f"select distinct mapping_source from '{host}/lakehouse/dim_taxonomy_top_nodes.parquet'").fetchall()
    assert ("page_map",) in sources

    # The host's own external models are dbt-duckdb's: its empty one holds the all-NULL row.
    assert pq.read_table(host / "lakehouse" / "host_customers_per_segment.parquet").num_rows > 0
    assert pq.read_table(host / "lakehouse" / "host_no_products.parquet").to_pylist() == [{"product_id": None}]


def test_host_without_a_page_map_is_warned_or_stopped(lake, tmp_path):
    host = _host_project(tmp_path / "host", lake, with_page_map=False)

    warned = _dbt(host, "run", "--select", "stg_taxonomy__page_map")
    assert warned.returncode == 0, warned.stdout[-4000:]
    assert "no taxonomy page map configured" in warned.stdout
    assert "falls back to its URL section" in warned.stdout

    stopped = _dbt(host, "run", "--select", "stg_taxonomy__page_map", "--vars", "{clickintent_require_page_map: true}")
    assert stopped.returncode != 0
    assert "clickintent_require_page_map is set" in stopped.stdout


def test_host_without_raw_locations_is_told_what_to_set(lake, tmp_path):
    host = _host_project(tmp_path / "host", lake, with_page_map=False)
    project = host / "dbt_project.yml"
    project.write_text("\n".join(line for line in project.read_text().splitlines() if "clickintent_raw_location" not in line) + "\n")

    stopped = _dbt(host, "run", "--select", "stg_events")

    assert stopped.returncode != 0
    assert "no location for the raw tables events, products, customers, conversions, tile_impressions" in stopped.stdout
    assert "clickintent_data_dir" in stopped.stdout


def test_host_with_a_tracker_shape_is_told_to_locate_the_tracker_tables(lake, tmp_path):
    host = _host_project(tmp_path / "host", lake, with_page_map=False)

    # clickintent_raw_location covers the contract's tables, not a tracker's: no guess at ../data/raw
    stopped = _dbt(host, "run", "--select", "stg_taxonomy__page_map", "--vars", "{source_shape: segment}")
    assert stopped.returncode != 0
    unwrapped = " ".join(stopped.stdout.split())
    assert "no location for the raw tables segment_pages, segment_screens, segment_tracks, segment_identifies" in unwrapped
    assert "clickintent_<shape>_<table>_location" in unwrapped

    located = _dbt(
        host,
        "run",
        "--select",
        "stg_taxonomy__page_map",
        "--vars",
        f'{{source_shape: snowplow, clickintent_snowplow_events_location: "{lake}/atomic.parquet"}}',
    )
    assert located.returncode == 0, located.stdout[-4000:]
