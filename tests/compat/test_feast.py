"""clickintent.compat.feast: the Feast internals it uses exist on the installed version, its fast
paths are the ones taken, and each fallback (the public API) stores and reads the same.

A Feast upgrade that removes or changes an internal fails here, not silently in the service.
"""

from __future__ import annotations

import functools
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feast
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, PushSource, ValueType
from feast.infra.online_stores.redis import RedisOnlineStore, RedisOnlineStoreConfig
from feast.infra.online_stores.sqlite import SqliteOnlineStore, SqliteOnlineStoreConfig
from feast.repo_config import RegistryConfig, RepoConfig
from feast.types import Array, Float32, Int64, String

from clickintent.compat import feast as feast_compat

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
_CACHED_INTERNAL = feast_compat._internal
FEATURES = ["embedding:web_embedding", "embedding:n_linked_web_sessions", "embedding:latest_web_session_id"]


@pytest.fixture(autouse=True)
def _fresh_internals():
    """Each test resolves the internals afresh and leaves no patched one cached."""
    _CACHED_INTERNAL.cache_clear()
    yield
    _CACHED_INTERNAL.cache_clear()


def _row(customer_id: str, offset: int) -> dict:
    return {
        "customer_id": customer_id,
        "as_of_ts": T0 + timedelta(minutes=offset),
        "web_embedding": [0.25 * offset, -1.5, 3.0],
        "n_linked_web_sessions": offset,
        "latest_web_session_id": f"s{offset}",
    }


@pytest.fixture()
def store(tmp_path: Path) -> FeatureStore:
    """A one-view Feast repo with a push source, applied; SQLite online store."""
    source_path = tmp_path / "embedding.parquet"
    pq.write_table(pa.Table.from_pylist([_row("c0", 0)]), source_path)
    batch = FileSource(name="embedding_source", path=str(source_path), timestamp_field="as_of_ts")
    push = PushSource(name="embedding_push_source", batch_source=batch)
    customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.STRING)
    view = FeatureView(
        name="embedding",
        entities=[customer],
        schema=[
            Field(name="customer_id", dtype=String),
            Field(name="web_embedding", dtype=Array(Float32)),
            Field(name="n_linked_web_sessions", dtype=Int64),
            Field(name="latest_web_session_id", dtype=String),
        ],
        source=push,
        ttl=timedelta(days=3650),
        online=True,
    )
    config = RepoConfig(
        project="compat_test",
        provider="local",
        registry=RegistryConfig(path=str(tmp_path / "registry.db"), cache_ttl_seconds=0),
        offline_store={"type": "duckdb"},
        online_store=SqliteOnlineStoreConfig(path=str(tmp_path / "online_store.db")),
        entity_key_serialization_version=3,
    )
    feature_store = FeatureStore(config=config)
    feature_store.apply([customer, batch, push, view])
    yield feature_store
    feast_compat.close_sqlite_connection(feature_store.provider)


def _read(store: FeatureStore, customer_id: str) -> dict:
    response = store.get_online_features(features=FEATURES, entity_rows=[{"customer_id": customer_id}]).to_dict(
        include_event_timestamps=True
    )
    return {name: values[0] for name, values in response.items() if name != "customer_id"}


def test_the_installed_feast_has_every_internal_the_adapter_uses() -> None:
    assert feast_compat.missing_internals() == [], (
        f"feast {feast.__version__} changed internals clickintent.compat.feast relies on; "
        "update the adapter (its fallbacks keep the service correct, but slower)"
    )


def test_a_push_takes_the_arrow_fast_path_and_the_public_fallback_stores_the_same(store: FeatureStore, monkeypatch) -> None:
    view = store.get_feature_view("embedding")
    calls: list[str] = []
    original = feast.utils._convert_arrow_to_proto

    @functools.wraps(original)
    def counted(*args, **kwargs):
        calls.append("arrow_to_proto")
        return original(*args, **kwargs)

    def no_pandas(*_args, **_kwargs):
        raise AssertionError("the fast path must not go through Provider.ingest_df")

    _CACHED_INTERNAL.cache_clear()  # resolve the internal again: the counting wrapper below
    monkeypatch.setattr(feast.utils, "_convert_arrow_to_proto", counted)
    with monkeypatch.context() as patch:
        patch.setattr(type(store.provider), "ingest_df", no_pandas)
        feast_compat.write_online_rows(store.provider, store.config, view, pa.Table.from_pylist([_row("fast", 7)]))
    assert calls == ["arrow_to_proto"]

    # The public fallback, as taken when the installed Feast lacks the internal.
    missing = feast_compat._MISSING
    real_internal = feast_compat._internal
    monkeypatch.setattr(
        feast_compat, "_internal", lambda path, name: missing if name == "_convert_arrow_to_proto" else real_internal(path, name)
    )
    feast_compat.write_online_rows(store.provider, store.config, view, pa.Table.from_pylist([_row("public", 7)]))
    assert calls == ["arrow_to_proto"]

    fast, public = _read(store, "fast"), _read(store, "public")
    assert fast == public
    assert fast["web_embedding"] == pytest.approx([1.75, -1.5, 3.0]) and fast["n_linked_web_sessions"] == 7
    assert fast["latest_web_session_id"] == "s7" and fast["web_embedding__ts"] == int((T0 + timedelta(minutes=7)).timestamp())


def test_the_sqlite_connection_is_feasts_own_and_closes(store: FeatureStore) -> None:
    provider = store.provider
    assert isinstance(provider.online_store, SqliteOnlineStore)
    connection = feast_compat.sqlite_connection(provider, store.config)
    assert isinstance(connection, sqlite3.Connection)
    connection.execute("pragma synchronous=normal")
    feast_compat.write_online_rows(provider, store.config, store.get_feature_view("embedding"), pa.Table.from_pylist([_row("c1", 1)]))
    # the pragma set through the adapter is on the connection Feast writes with
    assert provider.online_store._get_conn(store.config).execute("pragma synchronous").fetchone()[0] == 1
    feast_compat.close_sqlite_connection(provider)
    with pytest.raises(sqlite3.ProgrammingError):
        connection.execute("select 1")
    assert _read(store, "c1")["latest_web_session_id"] == "s1"  # a later read opens a new connection


def test_the_redis_client_is_feasts_own(tmp_path: Path) -> None:
    config = RepoConfig(
        project="compat_test",
        provider="local",
        registry=RegistryConfig(path=str(tmp_path / "registry.db")),
        offline_store={"type": "duckdb"},
        online_store=RedisOnlineStoreConfig(connection_string="127.0.0.1:9,socket_timeout=0.1"),
        entity_key_serialization_version=3,
    )
    provider = FeatureStore(config=config).provider
    assert isinstance(provider.online_store, RedisOnlineStore)
    client = feast_compat.redis_client(provider, config.online_store)  # no connection is made until a command
    assert client is not None and hasattr(client, "set_retry")
    assert provider.online_store._get_client(config.online_store) is client
    assert feast_compat.sqlite_connection(provider, config) is None


def test_without_the_internals_the_adapter_answers_none(store: FeatureStore, monkeypatch) -> None:
    monkeypatch.setattr(feast_compat, "_internal", lambda _path, _name: feast_compat._MISSING)
    assert feast_compat.sqlite_connection(store.provider, store.config) is None
    assert feast_compat.redis_client(store.provider, store.config.online_store) is None
    assert len(feast_compat.missing_internals()) == len(feast_compat._INTERNALS)
