"""The Feast feature store of a data directory: configuration, apply, materialize.

`feature_repo/` is an ordinary Feast repository: its `feature_store.yaml` takes every path from
`CLICKINTENT_DATA_DIR`, so `feast apply` in it works with that variable exported; its one module
re-exports the objects of the package `clickintent.feast_repo`, which a host repo imports too.
This module reads the same `feature_store.yaml` with the variable set to `settings.data_dir`, so
the CLI, tests and serving point the one repo at any data directory. The objects it registers
are the package's, imported afresh (load_repo_objects), not parsed from feature_repo/*.py as
`feast apply` does (Feast's parse_repo imports by the working directory and runs the repo's
require_sources); tests/features/test_feast_cli.py checks that both register the same views.

Materialize tells the truth about what the online store holds. Feast's incremental materialize
loads only rows newer than its previous run, and a batch table's timestamps are in the data's
past: a rewritten table (new embeddings from a retrained encoder, a rebuilt mart) would never
reach the store. So each run fingerprints every online view's source (content hash) and loads a
view whose source changed from its earliest row, after clearing the view's online rows. And it
records its progress in `<feast dir>/materialize_state.json` ("in progress" with the views not
done yet, written before any view is loaded; "complete" last): the service refuses to start on
a store a killed or failed run left half-loaded, naming the views (serving/artifacts.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
from feast import Entity, FeatureService, FeatureStore, FeatureView, RepoConfig
from feast.repo_config import load_repo_config
from feast.repo_contents import RepoContents

from clickintent.artifacts import COMMITTED, IN_PROGRESS, atomic_write_json, file_sha256
from clickintent.features.dbt import is_spark_target
from clickintent.features.partitioned_marts import parquet_relation
from clickintent.settings import Settings

PROJECT = "clickintent"
# The package that defines every Feast object; feature_repo/ imports it (docs/feast-repo.md).
REPO_PACKAGE = "clickintent.feast_repo"
# The repo's configuration; its paths are ${DATA_DIR_VARIABLE}/...
FEATURE_STORE_YAML = "feature_store.yaml"
DATA_DIR_VARIABLE = "CLICKINTENT_DATA_DIR"
# What the last materialize loaded, per view, and whether it finished (module docstring).
MATERIALIZE_STATE = "materialize_state.json"
# The Feast repo over the Spark build's marts, beside feature_repo/: the package's objects read by
# Feast's Spark offline store, with a registry of its own (docs/spark.md).
SPARK_FEATURE_REPO = "feature_repo_spark"
SPARK_REPO_MODULE = f"{REPO_PACKAGE}.spark"
# Held while CLICKINTENT_DATA_DIR (process-wide) is set for one data directory.
_ENVIRONMENT_LOCK = threading.RLock()


def feature_repo_dir(settings: Settings, target: str | None = None) -> Path:
    """The Feast repo of a dbt target's marts (None or "local": DuckDB's, feature_repo/; "spark":
    the Spark build's, feature_repo_spark/)."""
    return settings.project_dir / SPARK_FEATURE_REPO if is_spark_target(target) else settings.feature_repo_dir


def repo_config(settings: Settings, target: str | None = None) -> RepoConfig:
    """feature_repo/feature_store.yaml (feature_repo_spark/'s for target "spark") resolved for
    settings.data_dir, as the feast CLI reads it.

    The file describes the SQLite online store; settings.online_store = "redis" swaps in Redis.
    """
    repo_dir = feature_repo_dir(settings, target)
    with _data_dir_environment(settings):
        config = load_repo_config(repo_dir, repo_dir / FEATURE_STORE_YAML)
    if settings.online_store == "redis":
        from feast.infra.online_stores.redis import RedisOnlineStoreConfig

        # Set before anything reads config.online_store, which builds (and caches) the store config.
        config.online_config = RedisOnlineStoreConfig(connection_string=settings.redis_url)
    return config


def feature_store(settings: Settings, target: str | None = None) -> FeatureStore:
    """The Feast store of settings.data_dir over the marts of dbt `target` (repo_config)."""
    config = repo_config(settings, target)
    # Feast creates the registry's and the SQLite store's files, not their folder.
    Path(config.registry.path).parent.mkdir(parents=True, exist_ok=True)
    return FeatureStore(config=config)


@contextlib.contextmanager
def _data_dir_environment(settings: Settings) -> Iterator[None]:
    """CLICKINTENT_DATA_DIR set to settings.data_dir, absolute: feature_store.yaml reads a relative
    path against feature_repo/, the settings against the working directory."""
    with _ENVIRONMENT_LOCK:
        previous = os.environ.get(DATA_DIR_VARIABLE)
        os.environ[DATA_DIR_VARIABLE] = str(settings.data_dir.resolve())
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop(DATA_DIR_VARIABLE, None)
            else:
                os.environ[DATA_DIR_VARIABLE] = previous


def load_repo_objects(settings: Settings, target: str | None = None) -> RepoContents:
    """The objects of `clickintent.feast_repo` (what `feature_repo/` holds; for target "spark",
    `clickintent.feast_repo.spark`, what `feature_repo_spark/` holds), imported afresh with their
    paths resolved against settings.data_dir.

    The package's modules are imported again under the data directory's environment and the
    previous ones put back afterwards, so two data directories in one process don't share
    objects and a host's earlier import keeps its own.
    """
    # Feast's parse_repo adds this entity, which feature views without entities use.
    from feast.repo_operations import DUMMY_ENTITY

    repo_module = SPARK_REPO_MODULE if is_spark_target(target) else REPO_PACKAGE
    with _data_dir_environment(settings):
        previous = {name: module for name, module in sys.modules.items() if _is_repo_module(name)}
        for name in previous:
            del sys.modules[name]
        try:
            package = importlib.import_module(repo_module)
            objects = [getattr(package, name) for name in package.__all__]
            data_sources = package.data_sources()
        finally:
            for name in [name for name in sys.modules if _is_repo_module(name)]:
                del sys.modules[name]
            sys.modules.update(previous)
            # The import set the parent package's attribute too: back to the previous module.
            parent, _, child = REPO_PACKAGE.rpartition(".")
            if REPO_PACKAGE in previous:
                setattr(sys.modules[parent], child, previous[REPO_PACKAGE])
            else:
                vars(sys.modules[parent]).pop(child, None)
    return RepoContents(
        projects=[],
        data_sources=data_sources,
        entities=[obj for obj in objects if isinstance(obj, Entity)] + [DUMMY_ENTITY],
        feature_views=[obj for obj in objects if isinstance(obj, FeatureView)],
        feature_services=[obj for obj in objects if isinstance(obj, FeatureService)],
        on_demand_feature_views=[],
        stream_feature_views=[],
        label_views=[],
        permissions=[],
    )


def _is_repo_module(name: str) -> bool:
    return name == REPO_PACKAGE or name.startswith(REPO_PACKAGE + ".")


def apply_feature_repo(settings: Settings, target: str | None = None) -> str:
    """Register (or update) every object of feature_repo/ in the registry of settings.data_dir;
    for target "spark", of feature_repo_spark/ in its own registry (the Spark build's marts).

    Refuses marts or taxonomy outputs that are not the set their stage committed (UncommittedOutputError).
    """
    from clickintent.features.dbt import verify_marts, verify_spark_marts
    from clickintent.features.model_outputs import ensure_model_output_files
    from clickintent.taxonomy.commit import verify_taxonomy

    on_spark = is_spark_target(target)
    (verify_spark_marts if on_spark else verify_marts)(settings)
    verify_taxonomy(settings)
    placeholders = ensure_model_output_files(settings)
    contents = load_repo_objects(settings, target)
    # a mart is a file or a directory (a Spark table; a DuckDB mart partitioned by day)
    missing = [view.name for view in contents.feature_views if view.batch_source is not None and not Path(view.batch_source.path).exists()]
    if missing:
        build = f"clickintent build --target {target}" if on_spark else "clickintent build"
        raise FileNotFoundError(f"feature marts not built for {', '.join(missing)}; run `{build}` first")
    store = feature_store(settings, target)
    objects = [*contents.entities, *contents.data_sources, *contents.feature_views, *contents.feature_services]
    # Objects that were registered before but are gone from the repo are removed, as `feast apply` does.
    registered = [
        *store.list_feature_services(),
        *store.list_feature_views(),
    ]
    keep = {obj.name for obj in objects}
    stale = [obj for obj in registered if obj.name not in keep]
    store.apply(objects, objects_to_delete=stale, partial=False)
    summary = (
        f"{len(contents.entities) - 1} entities, {len(contents.feature_views)} feature views, "
        f"{len(contents.feature_services)} feature services"
    )
    if placeholders:
        summary += f" (not produced yet, empty for now: {', '.join(placeholders)})"
    return summary


def _source_time_range(path: str, timestamp_field: str) -> tuple[datetime, datetime] | None:
    row = duckdb.connect().execute(f"select min({timestamp_field}), max({timestamp_field}) from {parquet_relation(path)}").fetchone()
    if row is None or row[0] is None:
        return None
    return tuple(value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC) for value in row)  # type: ignore[return-value]


def materialize(settings: Settings, end_date: datetime | None = None) -> int:
    """Load the latest feature values into the online store; rows written.

    A view that was never materialized, or whose source changed since it was (module
    docstring), is loaded from its earliest row; otherwise the run is incremental.
    """
    from clickintent.features.dbt import verify_marts

    verify_marts(settings)
    store = feature_store(settings)
    end_date = end_date or datetime.now(UTC)
    views = [view for view in store.list_feature_views() if view.online]
    previous = read_materialize_state(settings) or {}
    loaded: dict[str, str] = dict(previous.get("sources", {}))
    pending = [view.name for view in views]
    started_at = datetime.now(UTC).isoformat(timespec="seconds")

    def record(state: str) -> None:
        atomic_write_json(
            materialize_state_path(settings),
            {"state": state, "started_at": started_at, "pending_views": pending, "sources": loaded},
            sort_keys=True,
        )

    record(IN_PROGRESS)
    written = 0
    for view in views:
        source = view.batch_source
        fingerprint = source_fingerprint(source.path)
        changed = loaded.get(view.name) != fingerprint
        if changed and view.most_recent_end_time is not None:
            clear_online_view(store, view)  # rows of entities the rewritten source no longer has go too
        time_range = _source_time_range(source.path, source.timestamp_field)
        if time_range is not None:
            if changed or view.most_recent_end_time is None:
                store.materialize(start_date=time_range[0] - timedelta(seconds=1), end_date=end_date, feature_views=[view.name])
            else:
                store.materialize_incremental(end_date=end_date, feature_views=[view.name])
        loaded[view.name] = fingerprint
        pending.remove(view.name)
        record(IN_PROGRESS)
        written += online_row_count(settings, view.name)
    record(COMMITTED)
    return written


def source_fingerprint(path: str | Path) -> str:
    """What identifies a view's source content: its size and hash (a directory's: of each file's)."""
    path = Path(path)
    if not path.is_dir():
        return f"{path.stat().st_size}:{file_sha256(path)}"
    files = "".join(f"{file.name}:{source_fingerprint(file)}\n" for file in sorted(path.glob("*.parquet")))
    return hashlib.sha256(files.encode()).hexdigest()


def clear_online_view(store: FeatureStore, view) -> None:
    """Remove a feature view's rows from the online store (any store kind), keeping its table."""
    from feast.infra.online_stores.helpers import get_online_store_from_config

    online_store = get_online_store_from_config(store.config.online_store)
    online_store.update(store.config, tables_to_delete=[view], tables_to_keep=[], entities_to_delete=[], entities_to_keep=[], partial=True)
    online_store.update(store.config, tables_to_delete=[], tables_to_keep=[view], entities_to_delete=[], entities_to_keep=[], partial=True)


def materialize_state_path(settings: Settings) -> Path:
    return settings.feast_dir / MATERIALIZE_STATE


def read_materialize_state(settings: Settings) -> dict | None:
    """The last materialize's record (None before the first one): state, pending_views, sources."""
    import json

    try:
        return json.loads(materialize_state_path(settings).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError:
        return {"state": "unreadable", "pending_views": []}


def unfinished_materialize(settings: Settings) -> str | None:
    """Why the online store is not the complete result of a materialize, or None when it is."""
    state = read_materialize_state(settings)
    if state is None or state.get("state") == COMMITTED:
        return None
    views = ", ".join(state.get("pending_views") or []) or "unknown"
    return (
        f"the online store of {settings.data_dir} is partly materialized: the run started at {state.get('started_at', '?')} "
        f"did not finish (views not loaded: {views}); run `clickintent features materialize`"
    )


def online_row_count(settings: Settings, feature_view: str) -> int:
    """Entities stored online for a feature view (SQLite store; Redis is not counted)."""
    if settings.online_store != "sqlite":
        return 0
    import sqlite3

    with contextlib.closing(sqlite3.connect(repo_config(settings).online_store.path)) as connection:
        table = f"{PROJECT}_{feature_view}"
        exists = connection.execute("select 1 from sqlite_master where type='table' and name=?", (table,)).fetchone()
        if not exists:
            return 0
        return connection.execute(f'select count(distinct entity_key) from "{table}"').fetchone()[0]
