"""Shared, session-scoped pipeline worlds: built once per test run, read by many tests.

dbt has ~5 s of fixed start-up and Feast imports are slow, so the suite builds one small
synthetic world through the real stages (generate -> dbt build -> Feast apply/materialize) and
tests read it. Tests must not modify these worlds; a test that needs to change data builds its
own (or copies one into tmp_path).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from clickintent.settings import Settings, load_settings

# Big enough for every mart and label to have rows, small enough to build in seconds.
PIPELINE_WORLD_EVENTS = 60_000


@pytest.fixture(scope="session")
def pipeline_world(tmp_path_factory) -> Settings:
    """A synthetic world with dbt marts built (fallback URL-section taxonomy)."""
    from clickintent.features.dbt import run_dbt_build
    from clickintent.synth import generate_world

    root: Path = tmp_path_factory.mktemp("pipeline_world")
    settings = load_settings(data_dir=root / "data", models_dir=root / "models", threads=1)
    generate_world(settings, target_events=PIPELINE_WORLD_EVENTS)
    result = run_dbt_build(settings, quiet=True)
    assert result.success, result.summary()
    return settings


@pytest.fixture(scope="session")
def feast_world(pipeline_world: Settings) -> Settings:
    """pipeline_world registered in Feast (DuckDB offline, SQLite online) and materialized."""
    from clickintent.features.store import apply_feature_repo, materialize

    apply_feature_repo(pipeline_world)
    materialize(pipeline_world)
    return pipeline_world


@pytest.fixture(scope="session")
def ranker_trained_world(feast_world: Settings, tmp_path_factory) -> Settings:
    """A copy of feast_world after the ranker stage (ablation and production models)."""
    from support.ranker_world import build_trained_world

    return build_trained_world(feast_world, tmp_path_factory.mktemp("ranker_world"))


@pytest.fixture(scope="session")
def ranker_stage_outputs_world(feast_world: Settings, tmp_path_factory) -> Settings:
    """A copy of feast_world with stand-ins for the taxonomy and encoder stages' customer tables."""
    from support.ranker_world import build_world_with_stage_outputs

    return build_world_with_stage_outputs(feast_world, tmp_path_factory.mktemp("ranker_world_stage_outputs"))


@pytest.fixture(scope="session")
def serving_world(feast_world: Settings, tmp_path_factory) -> Settings:
    """A copy of feast_world with every model the service loads (a tiny encoder, the taxonomy, the rankers)."""
    from support.serving_world import build_serving_world

    return build_serving_world(feast_world, tmp_path_factory.mktemp("serving_world"))


@pytest.fixture(scope="session")
def synthetic_world_on_both_engines(tmp_path_factory) -> Settings:
    """A small synthetic world whose marts DuckDB and Spark both built (support/spark_worlds.py):
    the Spark build is the slow part, so the mart and the Feast comparisons share one."""
    from support.spark_worlds import build_with_both, synthetic_world

    return build_with_both(synthetic_world(tmp_path_factory.mktemp("spark_synthetic_world") / "data"))


WORLD_FIXTURES = {
    "pipeline_world",
    "feast_world",
    "ranker_trained_world",
    "ranker_stage_outputs_world",
    "serving_world",
    "synthetic_world_on_both_engines",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that reads a built world is slow whatever its own marks say: `make test-fast` skips it."""
    for item in items:
        if WORLD_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
