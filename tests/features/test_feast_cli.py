"""feature_repo/ as a Feast user meets it: feature_store.yaml, the feast CLI, FeatureStore(repo_path=...)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from feast import FeatureStore

from clickintent.features.partitioned_marts import mart_location
from clickintent.features.store import DATA_DIR_VARIABLE, PROJECT, load_repo_objects, repo_config
from clickintent.settings import load_settings
from support.feast_cli import listed_names, repo_listing, run_feast


def test_feature_store_yaml_puts_the_store_where_the_settings_say(tmp_path):
    """The yaml (what the feast CLI reads) and the settings (what every other stage reads) agree."""
    settings = load_settings(data_dir=tmp_path / "data")
    config = repo_config(settings)
    assert config.project == PROJECT
    assert Path(config.registry.path) == settings.feast_dir / "registry.db"
    assert config.online_store.type == "sqlite"
    assert Path(config.online_store.path) == settings.feast_dir / "online_store.db"
    assert config.offline_store.type == "duckdb"
    assert Path(config.repo_path) == settings.feature_repo_dir


def test_repo_config_leaves_the_environment_as_it_was(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_DIR_VARIABLE, "/somewhere/else")
    config = repo_config(load_settings(data_dir=tmp_path / "data"))
    assert Path(config.registry.path).parent == tmp_path / "data" / "feast"
    assert os.environ[DATA_DIR_VARIABLE] == "/somewhere/else"
    monkeypatch.delenv(DATA_DIR_VARIABLE)
    repo_config(load_settings(data_dir=tmp_path / "data"))
    assert DATA_DIR_VARIABLE not in os.environ


def test_redis_setting_replaces_the_sqlite_store(tmp_path):
    settings = load_settings(data_dir=tmp_path / "data", online_store="redis", redis_url="cache.internal:6380")
    config = repo_config(settings)
    assert config.online_store.type == "redis"
    assert config.online_store.connection_string == "cache.internal:6380"
    assert Path(config.registry.path) == settings.feast_dir / "registry.db"


@pytest.mark.slow
def test_feast_cli_and_sdk_work_in_feature_repo(pipeline_world, tmp_path, monkeypatch):
    # The session world must not change: the CLI works on a copy of its marts.
    settings = load_settings(data_dir=tmp_path / "data", threads=1)
    shutil.copytree(pipeline_world.marts_dir, settings.marts_dir)
    repo_dir = settings.feature_repo_dir
    listing = repo_listing(repo_dir)

    applied = run_feast(["apply"], repo_dir, settings.data_dir)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert (settings.feast_dir / "registry.db").is_file()
    assert (settings.feast_dir / "online_store.db").is_file()

    listed = run_feast(["feature-views", "list"], repo_dir, settings.data_dir)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert listed_names(listed) == {view.name for view in load_repo_objects(settings).feature_views}

    monkeypatch.setenv(DATA_DIR_VARIABLE, str(settings.data_dir))
    store = FeatureStore(repo_path=str(repo_dir))
    assert {service.name for service in store.list_feature_services()} >= {"tile_ranker_v2", "conversion_v2"}
    profiles = pd.read_parquet(mart_location(settings.marts_dir, "dim_customer_profiles")).sort_values("snapshot_ts")
    latest = profiles.groupby("customer_id").tail(1).head(5)
    entity_rows = pd.DataFrame({"customer_id": latest.customer_id, "event_timestamp": latest.snapshot_ts + pd.Timedelta(seconds=1)})
    features = store.get_historical_features(entity_df=entity_rows, features=["customer_profile:tenure_months"]).to_df()
    by_customer = features.set_index("customer_id").tenure_months
    assert by_customer.loc[latest.customer_id].tolist() == latest.tenure_months.tolist()

    # Feast has no default for ${CLICKINTENT_DATA_DIR}: unset, apply fails and writes nothing in the repo.
    unset = run_feast(["apply"], repo_dir, None)
    assert unset.returncode != 0
    assert DATA_DIR_VARIABLE in unset.stdout + unset.stderr
    assert repo_listing(repo_dir) == listing
