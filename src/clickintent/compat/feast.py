"""Feast internals the service uses, each with a fallback to Feast's public API.

- `write_online_rows`: Arrow rows straight to Feast's protos (`feast.utils._convert_arrow_to_proto`)
  and the provider's public `online_write_batch`, less than half the time per push (a login
  pushes twice) of the public fallback, `Provider.ingest_df`, which goes through a pandas frame.
- `sqlite_connection`: the SQLite online store's connection (`SqliteOnlineStore._get_conn`), so
  the push connection can commit without an fsync (pragma synchronous=normal). The fsync costs
  nothing measurable on a quiet disk, and milliseconds per push while other processes write to it.
  Fallback: None, and the caller keeps SQLite's durable default.
- `close_sqlite_connection`: closes that connection (`SqliteOnlineStore._conn`); Feast's own
  `close()` is a no-op for SQLite. Fallback: nothing, the connection closes with the process.
- `redis_client`: the Redis online store's client (`RedisOnlineStore._get_client`), whose retry
  policy a connection string cannot set (redis-py's default retries held one read against a hung
  server for seconds). Fallback: None, and the caller logs that reads may hang.

The figures behind each are in docs/measurements.md, "Private library calls".

`missing_internals()` names what the installed Feast lacks (the service logs it at start-up);
tests/compat/test_feast.py fails on any of it. Feast is imported lazily, as serving/online.py does.
"""

from __future__ import annotations

import inspect
import sqlite3
from functools import cache
from typing import Any

# (module or class path, attribute, expected parameter names; None for a plain attribute)
_INTERNALS: tuple[tuple[str, str, tuple[str, ...] | None], ...] = (
    ("feast.utils", "_convert_arrow_to_proto", ("table", "feature_view", "join_keys")),
    ("feast.infra.online_stores.sqlite.SqliteOnlineStore", "_get_conn", ("self", "config")),
    ("feast.infra.online_stores.sqlite.SqliteOnlineStore", "_conn", None),
    ("feast.infra.online_stores.redis.RedisOnlineStore", "_get_client", ("self", "online_store_config")),
)


_MISSING = object()


def _resolve(path: str) -> Any:
    """A module ('feast.utils') or a class ('feast.infra.online_stores.sqlite.SqliteOnlineStore')."""
    import importlib

    module_path, _, name = path.rpartition(".")
    if name[:1].isupper():
        return getattr(importlib.import_module(module_path), name)
    return importlib.import_module(path)


@cache
def _internal(path: str, name: str) -> Any:
    """The internal, or _MISSING when the installed Feast lacks it or changed its parameters."""
    expected = next(parameters for owner, attribute, parameters in _INTERNALS if (owner, attribute) == (path, name))
    try:
        value = getattr(_resolve(path), name)
    except (ImportError, AttributeError):
        return _MISSING
    if expected is None:
        return value
    try:
        parameters = tuple(inspect.signature(value).parameters)
    except (TypeError, ValueError):
        return _MISSING
    return value if parameters == expected else _MISSING


def missing_internals() -> list[str]:
    """The Feast internals this adapter uses that the installed version lacks or changed."""
    return [f"{path}.{name}" for path, name, _ in _INTERNALS if _internal(path, name) is _MISSING]


def write_online_rows(provider: Any, config: Any, feature_view: Any, table: Any) -> None:
    """Write an Arrow table's rows to the online store for one feature view, as `FeatureStore.push` would."""
    convert = _internal("feast.utils", "_convert_arrow_to_proto")
    if convert is _MISSING:
        provider.ingest_df(feature_view, table.to_pandas())
        return
    join_keys = {entity.name: entity.dtype.to_value_type() for entity in feature_view.entity_columns}
    provider.online_write_batch(config, feature_view, convert(table, feature_view, join_keys), progress=None)


def _online_store_of(provider: Any, store_class: str) -> Any | None:
    """The provider's online store if it is an instance of `store_class` (a class path)."""
    try:
        cls = _resolve(store_class)
    except (ImportError, AttributeError):
        return None
    online_store = getattr(provider, "online_store", None)
    return online_store if isinstance(online_store, cls) else None


def sqlite_connection(provider: Any, config: Any) -> sqlite3.Connection | None:
    """The SQLite online store's connection (opened if needed), or None (not SQLite, or Feast changed)."""
    path = "feast.infra.online_stores.sqlite.SqliteOnlineStore"
    online_store = _online_store_of(provider, path)
    get_conn = _internal(path, "_get_conn")
    if online_store is None or get_conn is _MISSING:
        return None
    connection = get_conn(online_store, config)
    return connection if isinstance(connection, sqlite3.Connection) else None


def close_sqlite_connection(provider: Any) -> None:
    """Close the SQLite online store's connection if one is open (a later read opens a new one)."""
    online_store = _online_store_of(provider, "feast.infra.online_stores.sqlite.SqliteOnlineStore")
    connection = getattr(online_store, "_conn", None)
    if isinstance(connection, sqlite3.Connection):
        connection.close()
        online_store._conn = None


def redis_client(provider: Any, online_store_config: Any) -> Any | None:
    """The Redis online store's client (created if needed), or None (not Redis, or Feast changed)."""
    path = "feast.infra.online_stores.redis.RedisOnlineStore"
    online_store = _online_store_of(provider, path)
    get_client = _internal(path, "_get_client")
    if online_store is None or get_client is _MISSING:
        return None
    return get_client(online_store, online_store_config)
