"""clickintent's Feast objects over the Spark build's marts, for Feast's Spark offline store.

The same entities, feature views and feature services as the package, derived from its objects
when this module is imported, so every view is still defined once (the generated
feature_views.py). Only the sources differ: each is a Feast `SparkSource` (Parquet) of the same
name, timestamp and tags. A dbt mart's source reads the table directory `clickintent build
--target spark` writes, `<data dir>/spark_marts/<model>/`; a model stage's table (intents,
embeddings) is the one file its stage writes, read by both stores.

`feature_repo_spark/` is a Feast repo of this module (`offline_store: spark`, its own registry
under `<data dir>/feast_spark/`); `clickintent features apply --target spark` applies it
(docs/spark.md). A host repo on Spark imports it as it would import the package:

    from clickintent.feast_repo.spark import *  # noqa: F403
    from clickintent.feast_repo.spark import require_sources

    require_sources()  # `feast apply` stops here when the Spark build's marts are not there
"""

from __future__ import annotations

import copy
from pathlib import Path

from feast import FeatureService, FeatureView, FileSource
from feast.data_source import DataSource, PushSource
from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource

from clickintent import feast_repo as _package
from clickintent.features.paths import spark_mart_path

# What the sources read: dbt's marts are Parquet table directories, the stages' tables Parquet files.
FILE_FORMAT = "parquet"


def spark_source(source: FileSource) -> SparkSource:
    """The SparkSource that reads what `source` reads, from the Spark build for a dbt mart."""
    model = source.tags.get("dbt_model")
    return SparkSource(
        name=source.name,
        path=spark_mart_path(model) if model else source.path,
        file_format=FILE_FORMAT,
        timestamp_field=source.timestamp_field,
        created_timestamp_column=source.created_timestamp_column,
        field_mapping=source.field_mapping,
        date_partition_column=source.date_partition_column,
        description=source.description,
        tags=source.tags,
        owner=source.owner,
    )


def spark_variant(objects: dict[str, object]) -> dict[str, object]:
    """The package's objects (name -> object) with every source read by Spark: file sources
    become SparkSources, push sources push to the same views over them, feature views and
    services read those. Entities are shared."""
    sources: dict[str, DataSource] = {}
    for source in _package.collect_data_sources(objects.values()):
        if isinstance(source, FileSource):
            sources[source.name] = spark_source(source)
        elif not isinstance(source, PushSource):
            raise TypeError(f"no Spark twin for {type(source).__name__} {source.name!r}: the Spark variant reads file and push sources")
    for source in _package.collect_data_sources(objects.values()):
        if isinstance(source, PushSource):
            sources[source.name] = PushSource(
                name=source.name,
                batch_source=sources[source.batch_source.name],
                description=source.description,
                tags=source.tags,
                owner=source.owner,
            )
    views = {value.name: _view_over(value, sources) for value in objects.values() if isinstance(value, FeatureView)}
    variant: dict[str, object] = {}
    for name, value in objects.items():
        if isinstance(value, DataSource):
            variant[name] = sources[value.name]
        elif isinstance(value, FeatureView):
            variant[name] = views[value.name]
        elif isinstance(value, FeatureService):
            variant[name] = _service_over(value, views)
        else:
            variant[name] = value
    return variant


def _view_over(view: FeatureView, sources: dict[str, DataSource]) -> FeatureView:
    """`view` reading `sources` (by name) instead of its own. FeatureView's copy keeps the
    source objects, so the three places a view holds its source are replaced after it."""
    spark_view = copy.copy(view)
    spark_view.batch_source = sources[view.batch_source.name]
    spark_view.stream_source = None if view.stream_source is None else sources[view.stream_source.name]
    spark_view.data_source = spark_view.stream_source or spark_view.batch_source
    spark_view.projection.batch_source = spark_view.batch_source
    return spark_view


def _service_over(service: FeatureService, views: dict[str, FeatureView]) -> FeatureService:
    """`service` over `views` (by name), with the same projections (feature subsets)."""
    groupings = []
    for projection in service.feature_view_projections:
        grouping = copy.copy(views[projection.name])
        grouping.projection = copy.copy(projection)
        grouping.projection.batch_source = grouping.batch_source
        groupings.append(grouping)
    return FeatureService(
        name=service.name,
        features=groupings,
        tags=service.tags,
        description=service.description,
        owner=service.owner,
        logging_config=service.logging_config,
    )


_OBJECTS = spark_variant({name: getattr(_package, name) for name in _package.__all__})
globals().update(_OBJECTS)
__all__ = sorted(_OBJECTS)  # the package's names, every Feast object read by Spark


def data_sources() -> list[DataSource]:
    """Every data source of the variant, each once (as the package's data_sources)."""
    return _package.collect_data_sources(_OBJECTS[name] for name in __all__)


def spark_sources() -> list[SparkSource]:
    """Every SparkSource of the variant (the batch sources of the push sources included)."""
    return [source for source in data_sources() if isinstance(source, SparkSource)]


def require_sources() -> None:
    """The package's require_sources for the Spark build's marts (table directories)."""
    _package.require_tables(
        spark_sources(),
        present=Path.exists,
        build_hint="run `clickintent build --target spark`",
    )
