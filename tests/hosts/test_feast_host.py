"""Another team's Feast repo with its own `entities.py`, importing clickintent's objects (docs/feast-repo.md).

The host repo is written here as a team would write it, applied with the feast CLI and queried
with `get_historical_features` joining its own view and ours.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
from feast import FeatureStore

from clickintent.features.partitioned_marts import mart_location
from support.doc_blocks import fenced_block

FEAST = str(Path(sys.executable).with_name("feast"))

HOST_FEATURE_STORE_YAML = """\
project: host_team
provider: local
registry: {repo}/registry.db
offline_store:
  type: duckdb
online_store:
  type: sqlite
  path: {repo}/online_store.db
entity_key_serialization_version: 3
"""

# The host's own modules, named as Feast's templates name them: the names ours used to clash with.
HOST_ENTITIES = """\
from feast import Entity, ValueType

account = Entity(name="account", join_keys=["account_id"], value_type=ValueType.STRING)
"""

HOST_FEATURES = """\
from datetime import timedelta

from feast import FeatureView, Field, FileSource
from feast.types import Float64

from entities import account

account_balances = FeatureView(
    name="account_balances",
    entities=[account],
    ttl=timedelta(days=365),
    schema=[Field(name="balance_usd", dtype=Float64)],
    source=FileSource(path="{balances}", timestamp_field="as_of_ts"),
)
"""

# What docs/feast-repo.md tells a host to add: one file, taken from the page.
HOST_CLICKINTENT_FILE = fenced_block("feast-repo.md", "# <your repo>/clickintent_features.py\n")


def _write_host_repo(repo: Path) -> Path:
    repo.mkdir()
    balances = repo / "balances.parquet"
    pd.DataFrame(
        {
            "account_id": ["acct_1", "acct_2"],
            "balance_usd": [120.5, 9.25],
            "as_of_ts": pd.to_datetime(["2026-01-01", "2026-01-01"], utc=True),
        }
    ).to_parquet(balances)
    (repo / "feature_store.yaml").write_text(HOST_FEATURE_STORE_YAML.format(repo=repo))
    (repo / "entities.py").write_text(HOST_ENTITIES)
    (repo / "features.py").write_text(HOST_FEATURES.format(balances=balances))
    (repo / "clickintent_features.py").write_text(HOST_CLICKINTENT_FILE)
    return repo


def _feast_apply(repo: Path, data_dir: Path) -> subprocess.CompletedProcess:
    environment = {**os.environ, "CLICKINTENT_DATA_DIR": str(data_dir)}
    return subprocess.run([FEAST, "apply"], cwd=repo, env=environment, capture_output=True, text=True, timeout=300)


def test_host_repo_applies_and_joins_its_views_with_ours(feast_world, tmp_path):
    repo = _write_host_repo(tmp_path / "host_repo")

    applied = _feast_apply(repo, feast_world.data_dir)
    assert applied.returncode == 0, applied.stdout + applied.stderr

    store = FeatureStore(repo_path=str(repo))
    assert {entity.name for entity in store.list_entities()} >= {"account", "customer", "product", "visitor"}
    views = {view.name for view in store.list_feature_views()}
    assert {"account_balances", "customer_profile", "customer_web_intent"} <= views
    services = {service.name: service for service in store.list_feature_services()}
    assert services["tile_ranker_v2"].tags["production"] == "true"
    assert services["tile_ranker_v1"].tags["superseded_by"] == "tile_ranker_v2"

    profiles = pd.read_parquet(mart_location(feast_world.marts_dir, "dim_customer_profiles")).sort_values("snapshot_ts")
    latest = profiles.groupby("customer_id").tail(1).head(2)
    entity_rows = pd.DataFrame(
        {
            "customer_id": latest.customer_id.to_numpy(),
            "account_id": ["acct_1", "acct_2"],
            "event_timestamp": (latest.snapshot_ts + pd.Timedelta(seconds=1)).to_numpy(),
        }
    )
    joined = store.get_historical_features(
        entity_df=entity_rows, features=["customer_profile:tenure_months", "account_balances:balance_usd"]
    ).to_df()
    by_customer = joined.set_index("customer_id")
    assert by_customer.loc[latest.customer_id, "tenure_months"].tolist() == latest.tenure_months.tolist()
    assert sorted(by_customer.balance_usd.tolist()) == [9.25, 120.5]


def test_host_apply_without_our_marts_names_the_data_directory(tmp_path):
    repo = _write_host_repo(tmp_path / "host_repo")
    empty = tmp_path / "not_built"

    applied = _feast_apply(repo, empty)

    assert applied.returncode != 0
    output = applied.stdout + applied.stderr
    assert f"clickintent marts missing under {empty}" in output
    assert "clickintent build" in output
    assert not (repo / "registry.db").exists()
