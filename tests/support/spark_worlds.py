"""Small worlds built by both dbt targets, DuckDB and Spark (docs/spark.md), for the tests that
hold the Spark side to DuckDB's: the marts (tests/dbt_project/test_spark_build.py) and Feast's
offline stores over them (tests/features/test_feast_spark.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from clickintent.features.dbt import run_dbt_build, spark_build_unavailable
from clickintent.settings import Settings, load_settings
from clickintent.synth import generate_world

# A few thousand events (9,848 at seed 7): enough for every mart to have rows.
SYNTHETIC_WORLD_EVENTS = 5_000

# Skips a test, saying what is missing (the `spark` extra or Java), where Spark cannot run.
needs_spark = pytest.mark.skipif(spark_build_unavailable() is not None, reason=f"{spark_build_unavailable()}")


def world_settings(data_dir: Path) -> Settings:
    """Settings of a test world in `data_dir`, one dbt thread (the machine has two cores)."""
    return load_settings(environ={}, data_dir=data_dir, threads=1)


def synthetic_world(data_dir: Path) -> Settings:
    """The raw tables of a synthetic world of SYNTHETIC_WORLD_EVENTS in `data_dir`, not built."""
    settings = world_settings(data_dir)
    generate_world(settings, target_events=SYNTHETIC_WORLD_EVENTS)
    return settings


def build_with_both(settings: Settings) -> Settings:
    """The world's marts built by DuckDB (<data dir>/marts) and by Spark (<data dir>/spark_marts)."""
    duckdb_build = run_dbt_build(settings, quiet=True)
    assert duckdb_build.success, duckdb_build.summary()
    spark_build = run_dbt_build(settings, quiet=True, target="spark")
    assert spark_build.success, spark_build.summary()
    return settings
