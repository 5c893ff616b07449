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
