"""Feast's Spark offline store over the Spark build's marts answers as the DuckDB store over DuckDB's.

The Spark variant of the repo (clickintent.feast_repo.spark, feature_repo_spark/) holds the same
entities, feature views and services as the DuckDB one, its sources SparkSources over
<data dir>/spark_marts. A synthetic world of a few thousand events is built by both dbt targets
(tests/support/spark_worlds.py), given the model stages' tables from stand-ins (one copy, which
both stores read), and applied as both repos, each with its own registry. Each service the
rankers train on is asked for `get_historical_features` on the rankers' own entity rows (the
label marts, as clickintent.ranker reads them): both stores must return the same rows, sorted,
floats within a tolerance, nulls equal (clickintent.features.mart_equality.frame_differences).

The slow tests need the `spark` extra and Java; they are skipped, saying which is missing, without.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from feast import FeatureStore, FileSource
from feast.data_source import PushSource
from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource

from clickintent.artifacts import UncommittedOutputError
from clickintent.features.dbt import SPARK_TARGET, spark_marts_dir, stop_spark_session
from clickintent.features.mart_equality import frame_differences
from clickintent.features.store import apply_feature_repo, feature_repo_dir, feature_store, load_repo_objects, repo_config
from clickintent.ranker.anonymous_training import SESSIONS, read_session_outcomes
from clickintent.ranker.training_sets import CONVERSION_LABELS, TILE_LABELS, LabelTable, historical_features, read_label_table
from clickintent.settings import Settings, load_settings
from support.feast_cli import listed_names, repo_listing, run_feast
from support.identity_worlds import write_stage_outputs
from support.spark_worlds import needs_spark, world_settings

# The services the rankers train on (the production ones, and the identity-free conversion row,
# the one that reads the in-app aggregates), each with its entity rows as the ranker reads them.
TRAINING_SERVICES: dict[str, tuple[LabelTable, Callable[[Settings], pd.DataFrame]]] = {
    "tile_ranker_v2": (TILE_LABELS, lambda settings: read_label_table(settings, TILE_LABELS)),
    "conversion_v2": (CONVERSION_LABELS, lambda settings: read_label_table(settings, CONVERSION_LABELS)),
    "conversion_m_app_all": (CONVERSION_LABELS, lambda settings: read_label_table(settings, CONVERSION_LABELS)),
    "anonymous_ranker_v2": (SESSIONS, lambda settings: read_session_outcomes(settings)[0]),
}
# The encoder reads this view's mart itself; no service serves it.
NOT_IN_ANY_TRAINING_SERVICE = {"session_sequence"}
# Where two implementations of the point-in-time join would part: a microsecond before a
# feature row, at it, at the end of its ttl and a microsecond after.
MICROSECOND = pd.Timedelta(microseconds=1)
# Entities per feature view whose every feature row is asked for at its edges (the first by key).
EDGE_ENTITIES_PER_VIEW = 10


def test_the_spark_variant_has_the_same_views_and_services_over_the_spark_marts(tmp_path) -> None:
    settings = load_settings(environ={}, data_dir=tmp_path / "data")
    on_duckdb, on_spark = load_repo_objects(settings), load_repo_objects(settings, SPARK_TARGET)

    assert [entity.name for entity in on_spark.entities] == [entity.name for entity in on_duckdb.entities]
    duckdb_views = {view.name: view for view in on_duckdb.feature_views}
    assert {view.name for view in on_spark.feature_views} == set(duckdb_views)
    for view in on_spark.feature_views:
        twin = duckdb_views[view.name]
        assert (view.features, view.entities, view.ttl, view.online) == (twin.features, twin.entities, twin.ttl, twin.online)
        source, twin_source = view.batch_source, twin.batch_source
        assert isinstance(source, SparkSource) and isinstance(twin_source, FileSource)
        assert (source.name, source.timestamp_field, source.file_format) == (twin_source.name, twin_source.timestamp_field, "parquet")
        model = source.tags.get("dbt_model")
        assert Path(source.path) == (spark_marts_dir(settings) / model if model else Path(twin_source.path))
        assert view.projection.batch_source is source
        if twin.stream_source is not None:  # a view that logins push to pushes over the Spark source
            assert isinstance(view.stream_source, PushSource) and view.stream_source.batch_source is source
            assert view.stream_source.name == twin.stream_source.name

    duckdb_services = {service.name: service for service in on_duckdb.feature_services}
    assert {service.name for service in on_spark.feature_services} == set(duckdb_services)
    for service in on_spark.feature_services:
        projections = duckdb_services[service.name].feature_view_projections
        assert [(p.name, p.features) for p in service.feature_view_projections] == [(p.name, p.features) for p in projections]
        assert all(isinstance(projection.batch_source, SparkSource) for projection in service.feature_view_projections)


@needs_spark  # Feast's Spark store configuration imports pyspark
def test_the_spark_repo_has_its_own_registry_and_the_spark_offline_store(tmp_path) -> None:
    settings = load_settings(environ={}, data_dir=tmp_path / "data")
    config, duckdb_config = repo_config(settings, SPARK_TARGET), repo_config(settings)
    assert config.offline_store.type == "spark"
    assert config.offline_store.spark_conf["spark.sql.session.timeZone"] == "UTC"
    assert Path(config.registry.path).parent == settings.data_dir / "feast_spark"
    assert config.registry.path != duckdb_config.registry.path
    assert duckdb_config.offline_store.type == "duckdb"


def test_apply_without_the_spark_marts_says_what_to_build(tmp_path) -> None:
    settings = load_settings(environ={}, data_dir=tmp_path / "data")
    with pytest.raises(UncommittedOutputError, match="no Spark marts at .*spark_marts; run `clickintent build --target spark`"):
        apply_feature_repo(settings, SPARK_TARGET)
    assert not (settings.data_dir / "feast_spark").exists()


def test_an_unknown_target_is_refused_by_name(tmp_path) -> None:
    with pytest.raises(ValueError, match="dbt target must be local \\(DuckDB\\) or spark, not 'snowflake'"):
        repo_config(load_settings(environ={}, data_dir=tmp_path / "data"), "snowflake")


# ---- both offline stores on one world (slow, needs Spark) -------------------------------------


@pytest.fixture(scope="module")
def stores(synthetic_world_on_both_engines: Settings, tmp_path_factory) -> Iterator[tuple[Settings, FeatureStore, FeatureStore]]:
    """(settings, DuckDB store, Spark store) of a copy of the world both targets built, applied to both repos."""
    data_dir = tmp_path_factory.mktemp("feast_spark_world") / "data"
    shutil.copytree(synthetic_world_on_both_engines.data_dir, data_dir)
    settings = world_settings(data_dir)
    write_stage_outputs(settings)
    apply_feature_repo(settings)
    apply_feature_repo(settings, SPARK_TARGET)
    yield settings, feature_store(settings), feature_store(settings, SPARK_TARGET)
    # Feast's session has no Hive metastore: a later Spark build in this process must start its own.
    stop_spark_session()


@pytest.fixture(scope="module")
def answers(stores) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Per training service: (DuckDB store's rows, Spark store's rows) for the same entity rows."""
    settings, duckdb_store, spark_store = stores
    found = {}
    for service, (table, read_entity_rows) in TRAINING_SERVICES.items():
        entity_rows = read_entity_rows(settings)
        found[service] = (
            historical_features(duckdb_store, service, entity_rows, table),
            historical_features(spark_store, service, entity_rows, table),
        )
    return found


@pytest.mark.slow
@needs_spark
@pytest.mark.parametrize("service", TRAINING_SERVICES)
def test_both_offline_stores_return_the_same_training_rows(answers, service) -> None:
    on_duckdb, on_spark = answers[service]
    assert len(on_duckdb) > 0
    assert frame_differences(on_duckdb, on_spark) == []


def edge_entity_rows(store: FeatureStore, views: list) -> pd.DataFrame:
    """Entity rows at the edges of each view's point-in-time join (MICROSECOND) for the first
    EDGE_ENTITIES_PER_VIEW entities of the view's table; the views share one entity."""
    frames = []
    for view in views:
        source, key = view.batch_source, store.get_entity(view.entities[0]).join_key
        rows = pd.read_parquet(source.path, columns=[key, source.timestamp_field])
        rows = rows[rows[key].isin(sorted(rows[key].dropna().unique())[:EDGE_ENTITIES_PER_VIEW])].reset_index(drop=True)
        at = pd.to_datetime(rows[source.timestamp_field], utc=True)
        offsets = [-MICROSECOND, pd.Timedelta(0)] + ([view.ttl, view.ttl + MICROSECOND] if view.ttl else [])
        frames += [pd.DataFrame({key: rows[key], "event_timestamp": at + offset}) for offset in offsets]
    return pd.concat(frames).drop_duplicates().sort_values([key, "event_timestamp"]).reset_index(drop=True)


@pytest.mark.slow
@needs_spark
def test_both_offline_stores_join_the_same_rows_at_the_edges_of_time_and_ttl(stores) -> None:
    """Every feature view, one query per entity: entity rows at, just before, and at either side
    of the ttl's end of the feature rows of a few entities."""
    _, duckdb_store, spark_store = stores
    views_by_entity: dict[str, list] = {}
    for view in duckdb_store.list_feature_views():
        views_by_entity.setdefault(view.entities[0], []).append(view)
    differences = {}
    for entity, views in sorted(views_by_entity.items()):
        entity_rows = edge_entity_rows(duckdb_store, views)
        features = [f"{view.name}:{feature.name}" for view in views for feature in view.features]
        on_duckdb, on_spark = (
            store.get_historical_features(entity_df=entity_rows.copy(), features=features, full_feature_names=True).to_df()
            for store in (duckdb_store, spark_store)
        )
        assert len(on_duckdb) == len(entity_rows)
        for view in views:  # all-null columns are equal and prove nothing
            assert on_duckdb[[f"{view.name}__{feature.name}" for feature in view.features]].notna().any(axis=None), view.name
        if found := frame_differences(on_duckdb, on_spark):
            differences[entity] = found
    assert differences == {}


@pytest.mark.slow
@needs_spark
@pytest.mark.parametrize("service", TRAINING_SERVICES)
def test_every_view_of_a_compared_service_joins_some_rows(stores, answers, service) -> None:
    """All-null columns are equal on both sides and prove nothing."""
    _, duckdb_store, _ = stores
    on_duckdb, _ = answers[service]
    for projection in duckdb_store.get_feature_service(service).feature_view_projections:
        columns = [feature.name for feature in projection.features]
        assert on_duckdb[columns].notna().any(axis=None), f"{projection.name} joined no row"


@pytest.mark.slow
@needs_spark
def test_the_compared_services_read_every_feature_view_a_service_serves(stores) -> None:
    _, duckdb_store, _ = stores
    compared = {
        projection.name
        for service in TRAINING_SERVICES
        for projection in duckdb_store.get_feature_service(service).feature_view_projections
    }
    assert compared == {view.name for view in duckdb_store.list_feature_views()} - NOT_IN_ANY_TRAINING_SERVICE


@pytest.mark.slow
@needs_spark
def test_the_spark_registry_holds_spark_sources_and_the_duckdb_one_file_sources(stores) -> None:
    settings, duckdb_store, spark_store = stores
    spark_views = spark_store.list_feature_views()
    assert {view.name for view in spark_views} == {view.name for view in duckdb_store.list_feature_views()}
    assert all(isinstance(view.batch_source, SparkSource) for view in spark_views)
    assert all(isinstance(view.batch_source, FileSource) for view in duckdb_store.list_feature_views())
    assert spark_store.get_feature_view("customer_profile").batch_source.path == str(spark_marts_dir(settings) / "dim_customer_profiles")


@pytest.mark.slow
@needs_spark
def test_feast_apply_in_feature_repo_spark_registers_the_spark_variant(stores) -> None:
    """The documented CLI path: `feast apply` in feature_repo_spark/ with CLICKINTENT_DATA_DIR set."""
    settings, _, _ = stores
    repo_dir = feature_repo_dir(settings, SPARK_TARGET)
    listing = repo_listing(repo_dir)
    applied = run_feast(["apply"], repo_dir, settings.data_dir)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    sources = run_feast(["data-sources", "list"], repo_dir, settings.data_dir)
    assert sources.returncode == 0, sources.stdout + sources.stderr
    assert listed_names(sources) == {source.name for source in load_repo_objects(settings, SPARK_TARGET).data_sources}
    assert "FileSource" not in sources.stdout
    assert repo_listing(repo_dir) == listing  # Spark's warehouse and metastore stay out of the repo
