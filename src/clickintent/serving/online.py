"""Online features for one request: the Feast store opened once, read per customer, pushed on login.

At start-up (`OnlineFeatures.open`):
- the Feast store of the data directory, with its registry cached for the life of the process
  (a new registry, like a new model, means a new service start) and, for Redis, short socket
  timeouts so that a stopped server fails a request fast instead of hanging it;
- the ranker's FeatureService fetched once (fetching it costs ~7 ms, docs/design.md "Known traps") and split by
  entity: the customer-keyed views are read per request, the product view once, here: the
  catalogue is a few dozen static rows, kept in memory;
- a second store object for pushes, so a push (a write) never shares the connection a read
  is using; pushes are serialized by a lock.

Per request: the customer's rows (profile, web embedding, intent labels, 30-day web
aggregates, and the in-app views when the service holds them), or a visitor's journey rows
(`visitor`, by cookie or device), with their timestamps (a login push decays the stored values by their age); from
SQLite view by view through the provider, as `get_online_features` reads them, from Redis by
`get_online_features` itself (see `customer`). Any failure of the store raises
OnlineStoreUnavailable, which the recommender turns into a degraded answer.

The Feast internals used for pushes and connections live in clickintent.compat.feast, each
with a fallback to the public API; the service logs at start-up any the installed Feast lacks.

SQLite (the default) suits one process reading while pushes are rare. Under concurrent pushes
Feast's SQLite store, in SQLite's default rollback-journal mode, blocks readers for the whole
of a write; `enable_sqlite_wal` switches the file to write-ahead logging, where readers never
wait for a writer. Redis needs no such care and is what several workers or hosts should share.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clickintent.compat import feast as feast_compat
from clickintent.settings import Settings

log = logging.getLogger(__name__)

CUSTOMER_KEY = "customer_id"
PRODUCT_KEY = "product_id"
SESSION_KEY = "session_id"
VISITOR_KEY = "visitor_id"
# A visitor's journey views (a cookie's or device's sessions over 30 days), read by `visitor`.
VISITOR_VIEWS = ("visitor_journey", "visitor_journey_embedding")
# Seconds before a Redis call gives up, and retries after that: a hung server must degrade a
# request, not hang it (redis-py's default retries held a read for 5.4 s).
REDIS_TIMEOUT_SECONDS = 0.25
REDIS_RETRIES = 1
# The stored session views read when /recommend names a session_id without its events.
SESSION_FEATURES = (
    "session_intent:distilled_intent_node_id",
    "session_intent:distilled_intent_top_node_id",
    "session_intent:distilled_intent_confidence",
    "session_intent:distilled_intent_top_node_probs",
    "session_intent:taxonomy_version",
    "session_embedding:embedding",
)
# Push sources of the customer-level views a login updates (src/clickintent/feast_repo/data_sources.py).
INTENT_LABELS_PUSH_SOURCE = "customer_web_intent_labels_push_source"
EMBEDDING_PUSH_SOURCE = "customer_web_embedding_push_source"
PUSHED_VIEWS = ("customer_web_intent_labels", "customer_web_embedding")
# Views a signed-in live session is merged into without a push (the app's own sign-in): read whole
# when a service reads any of their features, for what the merge carries over (the session count).
LIVE_MERGED_VIEWS = ("customer_app_embedding",)


class OnlineStoreUnavailable(RuntimeError):
    """The online store could not answer; the message says what failed."""


@dataclass
class CustomerRow:
    """A customer's online features (view prefixes dropped, as the ranker's rows use them)."""

    customer_id: str
    # The batch pipeline knows the customer: a feature of a view that only batch jobs write
    # (profile, dbt aggregates). A customer seen only through login pushes is not known yet.
    known: bool
    values: dict[str, Any]
    timestamps: dict[str, datetime | None] = field(default_factory=dict)


@dataclass
class VisitorRow:
    """A visitor's online journey features (view prefixes dropped), as `CustomerRow` holds a customer's."""

    visitor_id: str
    # The batch pipeline has a journey for the visitor: some feature is set.
    known: bool
    values: dict[str, Any]
    timestamps: dict[str, datetime | None] = field(default_factory=dict)


def enable_sqlite_wal(path: Path) -> str:
    """Switch an SQLite online store to write-ahead logging (persistent, idempotent); the mode set."""
    with sqlite3.connect(str(path), timeout=10) as connection:
        mode = connection.execute("pragma journal_mode=wal").fetchone()[0]
    return str(mode)


def _serving_store(settings: Settings):
    """A FeatureStore for serving: registry cached forever, Redis with short timeouts."""
    from feast import FeatureStore

    from clickintent.features.store import repo_config

    settings.feast_dir.mkdir(parents=True, exist_ok=True)
    config = repo_config(settings)
    # 0 = never expire: no registry re-read from disk inside a request.
    config.registry.cache_ttl_seconds = 0
    if settings.online_store == "redis" and "socket_timeout" not in config.online_store.connection_string:
        config.online_store.connection_string += f",socket_timeout={REDIS_TIMEOUT_SECONDS},socket_connect_timeout={REDIS_TIMEOUT_SECONDS}"
    store = FeatureStore(config=config)
    if settings.online_store == "redis":
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # Feast builds the client from the connection string, which cannot carry a retry policy.
        client = feast_compat.redis_client(store.provider, config.online_store)
        if client is None:
            log.warning("cannot reach Feast's Redis client: reads of a hung Redis keep redis-py's default retries")
        else:
            client.set_retry(Retry(NoBackoff(), REDIS_RETRIES))
    return store


def _first(values: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    return {name: column[0] if column else None for name, column in values.items()}


class OnlineFeatures:
    """The online half of a ranker's feature service, opened once per worker."""

    def __init__(self, settings: Settings, feature_service: str | Sequence[str]):
        """`feature_service`: the service (or services, one per model the worker serves) whose
        customer- and product-keyed features are read; the first names `self.feature_service`."""
        self.settings = settings
        service_names = [feature_service] if isinstance(feature_service, str) else list(feature_service)
        missing = feast_compat.missing_internals()
        if missing:
            log.warning("Feast internals missing in this version, public API used instead (slower): %s", ", ".join(missing))
        self.store = _serving_store(settings)
        self._push_store = _serving_store(settings)
        self._push_lock = threading.Lock()
        self._push_connection_tuned = False
        if not Path(self.store.config.registry.path).is_file():
            raise FileNotFoundError(
                f"no Feast registry at {self.store.config.registry.path}: run `clickintent features apply` and "
                "`clickintent features materialize` for this data directory"
            )
        services = [self.store.get_feature_service(name) for name in service_names]
        self.feature_service = services[0]
        self.registered_feature_services = {service.name for service in self.store.list_feature_services()}
        customer_refs: list[str] = []
        product_refs: list[str] = []
        self.product_view: str | None = None
        for service in services:
            for projection in service.feature_view_projections:
                view = self.store.get_feature_view(projection.name)
                join_keys = {column.name for column in view.entity_columns}
                refs = [f"{projection.name_to_use()}:{feature.name}" for feature in projection.features]
                if join_keys == {CUSTOMER_KEY}:
                    customer_refs.extend(ref for ref in refs if ref not in customer_refs)
                elif join_keys == {PRODUCT_KEY}:
                    product_refs.extend(ref for ref in refs if ref not in product_refs)
                    self.product_view = projection.name
                else:
                    raise ValueError(
                        f"feature service '{service.name}' has view '{projection.name}' keyed by {sorted(join_keys)}; "
                        "the service reads customer- and product-keyed views only"
                    )
        # The login push carries over what it does not recompute (teacher labels, session counts),
        # so read every feature of the pushed views too (and of the live-merged views the services
        # read): same rows, no extra round trip per view.
        read = {ref.split(":", 1)[1] for ref in customer_refs}
        read_views = {ref.split(":", 1)[0] for ref in customer_refs}
        for view_name in (*PUSHED_VIEWS, *(view for view in LIVE_MERGED_VIEWS if view in read_views)):
            try:
                view = self.store.get_feature_view(view_name)
            except Exception:  # a registry without the view: nothing to push to
                continue
            for feature in view.features:
                if feature.name not in read:
                    customer_refs.append(f"{view_name}:{feature.name}")
                    read.add(feature.name)
        self.customer_refs = customer_refs
        self.product_refs = product_refs
        self.batch_customer_features = [ref.split(":", 1)[1] for ref in customer_refs if ref.split(":", 1)[0] not in PUSHED_VIEWS]
        self.customer_features = [ref.split(":", 1)[1] for ref in customer_refs]
        self.product_features = [ref.split(":", 1)[1] for ref in product_refs]
        self._push_views = self._resolve_push_sources((INTENT_LABELS_PUSH_SOURCE, EMBEDDING_PUSH_SOURCE))
        self._customer_reads = self._plan_reads(customer_refs)
        self._visitor_reads = self._plan_visitor_reads()
        if settings.online_store == "sqlite":
            database = Path(self.store.config.online_store.path)
            if database.is_file():
                log.info("online store %s: journal mode %s", database, enable_sqlite_wal(database))

    # ---- products: once ----------------------------------------------------------------

    def load_products(self) -> tuple[dict[str, dict[str, Any]], str]:
        """Every catalogue product's features, and where they came from.

        Product ids come from the product view's batch source (the dbt mart). Values come from
        the online store; if it cannot answer at start-up, from the same mart, so the service
        starts degraded instead of not at all.
        """
        import pyarrow.parquet as pq

        if self.product_view is None:
            return {}, "none (the feature service has no product view)"
        source = self.store.get_feature_view(self.product_view).batch_source
        table = pq.read_table(source.path).to_pylist()
        product_ids = sorted({row[PRODUCT_KEY] for row in table})
        try:
            response = self.store.get_online_features(
                features=self.product_refs, entity_rows=[{PRODUCT_KEY: product_id} for product_id in product_ids]
            ).to_dict()
            products = {
                product_id: {name: response[name][index] for name in self.product_features}
                for index, product_id in enumerate(response[PRODUCT_KEY])
            }
            missing = [product_id for product_id, row in products.items() if all(value is None for value in row.values())]
            if not missing:
                return products, "online store"
            log.warning("products %s have no online features; using the mart values for them", missing[:5])
        except Exception as error:  # any store failure: fall back to the mart
            log.warning("online store unavailable at start-up (%s: %s); product features from %s", type(error).__name__, error, source.path)
            products = {}
        for row in table:
            if row[PRODUCT_KEY] not in products or all(value is None for value in products[row[PRODUCT_KEY]].values()):
                products[row[PRODUCT_KEY]] = {name: row.get(name) for name in self.product_features}
        return products, f"mart {source.path} (online store incomplete or unavailable at start-up)"

    # ---- per request ---------------------------------------------------------------------

    def _plan_reads(self, refs: Sequence[str]) -> list[tuple[Any, list[str], dict[str, Any]]]:
        """(feature view, its features to read, their value types) per view of `refs`, resolved once."""
        by_view: dict[str, list[str]] = {}
        for ref in refs:
            view_name, feature = ref.split(":", 1)
            by_view.setdefault(view_name, []).append(feature)
        plan = []
        for view_name, features in by_view.items():
            view = self.store.get_feature_view(view_name)
            types = {field.name: field.dtype.to_value_type() for field in view.features if field.name in features}
            plan.append((view, features, types))
        return plan

    def _plan_visitor_reads(self) -> list[tuple[Any, list[str], dict[str, Any]]]:
        """Every feature of the visitor views the registry has (their names are unique across them)."""
        refs = []
        for view_name in VISITOR_VIEWS:
            try:
                view = self.store.get_feature_view(view_name)
            except Exception:  # a registry applied before the visitor views existed
                log.warning("feature view %s is not in the registry: visitor reads return nothing from it", view_name)
                continue
            refs.extend(f"{view_name}:{feature.name}" for feature in view.features)
        return self._plan_reads(refs)

    def customer(self, customer_id: str) -> CustomerRow:
        """The customer's online features; OnlineStoreUnavailable if the store fails.

        SQLite: read view by view through the provider's `online_read`, the call
        `get_online_features` makes for each view: the same rows and values (tested against
        it), without rebuilding the request plan (feature references, entity keys, response
        protos) on every call, which costs more than the reads (0.3 ms saved per request).
        Event times are cut to whole seconds, as `get_online_features` returns them. Other
        stores: `get_online_features` itself (`_customer_from_feast`).
        """
        if self.settings.online_store != "sqlite":
            return self._customer_from_feast(customer_id)
        values, timestamps = self._read_views(CUSTOMER_KEY, customer_id, self._customer_reads, "customer")
        known = any(values.get(name) is not None for name in self.batch_customer_features)
        return CustomerRow(customer_id=customer_id, known=known, values=values, timestamps=timestamps)

    def _read_views(
        self, join_key: str, entity_id: str, plan: Sequence[tuple[Any, list[str], dict[str, Any]]], what: str
    ) -> tuple[dict[str, Any], dict[str, datetime | None]]:
        """One entity's features from SQLite, view by view through the provider's `online_read`
        (see `customer`); values and whole-second event times by feature name."""
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value
        from feast.type_map import feast_value_type_to_python_type

        values: dict[str, Any] = {}
        timestamps: dict[str, datetime | None] = {}
        key = EntityKey(join_keys=[join_key], entity_values=[Value(string_val=entity_id)])
        try:
            provider = self.store.provider
            for view, features, types in plan:
                ((stamp, data),) = provider.online_read(
                    config=self.store.config, table=view, entity_keys=[key], requested_features=features
                )
                stamp = _whole_second(stamp)
                for name in features:
                    proto = data.get(name) if data else None
                    values[name] = None if proto is None else feast_value_type_to_python_type(proto, types.get(name))
                    timestamps[name] = stamp
        except Exception as error:  # SQLite, Redis and Feast each raise their own
            raise OnlineStoreUnavailable(f"{what} features: {type(error).__name__}: {error}") from error
        return values, timestamps

    def visitor(self, visitor_id: str) -> VisitorRow:
        """A visitor's journey online (visitor_journey and visitor_journey_embedding, every feature),
        by '<platform>:<anonymous_id>' (clickintent.features.visitors.visitor_id); read as
        `customer` reads, so OnlineStoreUnavailable if the store fails. A registry without the
        views gives an unknown visitor (logged once at start-up)."""
        if not self._visitor_reads:
            return VisitorRow(visitor_id=visitor_id, known=False, values={})
        if self.settings.online_store == "sqlite":
            values, timestamps = self._read_views(VISITOR_KEY, visitor_id, self._visitor_reads, "visitor")
        else:
            refs = [f"{view.name}:{name}" for view, features, _ in self._visitor_reads for name in features]
            try:
                response = self.store.get_online_features(features=refs, entity_rows=[{VISITOR_KEY: visitor_id}]).to_dict(
                    include_event_timestamps=True
                )
            except Exception as error:  # SQLite, Redis and Feast each raise their own
                raise OnlineStoreUnavailable(f"visitor features: {type(error).__name__}: {error}") from error
            row = _first(response)
            names = [ref.split(":", 1)[1] for ref in refs]
            values = {name: row.get(name) for name in names}
            timestamps = {name: _epoch_seconds(row.get(f"{name}__ts")) for name in names}
        known = any(value is not None for value in values.values())
        return VisitorRow(visitor_id=visitor_id, known=known, values=values, timestamps=timestamps)

    def _customer_from_feast(self, customer_id: str) -> CustomerRow:
        """The customer's row through `get_online_features`: for Redis, whose store reads every
        view in one pipelined round trip there (0.6 ms less than view by view)."""
        try:
            response = self.store.get_online_features(features=self.customer_refs, entity_rows=[{CUSTOMER_KEY: customer_id}]).to_dict(
                include_event_timestamps=True
            )
        except Exception as error:  # SQLite, Redis and Feast each raise their own
            raise OnlineStoreUnavailable(f"customer features: {type(error).__name__}: {error}") from error
        row = _first(response)
        values = {name: row.get(name) for name in self.customer_features}
        timestamps = {name: _epoch_seconds(row.get(f"{name}__ts")) for name in self.customer_features}
        known = any(values.get(name) is not None for name in self.batch_customer_features)
        return CustomerRow(customer_id=customer_id, known=known, values=values, timestamps=timestamps)

    def session(self, session_id: str) -> dict[str, Any] | None:
        """A finished session's stored intent and embedding, or None if the store has neither."""
        try:
            response = self.store.get_online_features(features=list(SESSION_FEATURES), entity_rows=[{SESSION_KEY: session_id}]).to_dict()
        except Exception as error:  # any store's own error: the caller degrades
            raise OnlineStoreUnavailable(f"session features: {type(error).__name__}: {error}") from error
        row = _first(response)
        row.pop(SESSION_KEY, None)
        return row if any(value is not None for value in row.values()) else None

    def _resolve_push_sources(self, names: Sequence[str]) -> dict[str, list[Any]]:
        """Push source -> the feature views it feeds, resolved once from the registry.

        `FeatureStore.push` resolves them on every call by deserializing every feature view and
        feature service of the registry (86 ms per push measured), for a write of about a
        millisecond.
        """
        from feast.data_source import PushSource

        views = [*self._push_store.list_feature_views(), *self._push_store.list_stream_feature_views()]
        resolved: dict[str, list[Any]] = {}
        for name in names:
            feeding = [view for view in views if isinstance(view.stream_source, PushSource) and view.stream_source.name == name]
            if feeding:
                resolved[name] = feeding
        return resolved

    def push(self, push_source: str, row: Mapping[str, Any]) -> None:
        """Write one row through a push source to the online store (serialized, own connection).

        What `FeatureStore.push(..., to=PushMode.ONLINE)` does for a plain feature view, with the
        views resolved at start-up: for each view the source feeds, the provider's `ingest_df`
        steps from an Arrow table built from the row itself (`feast_compat.write_online_rows`).
        """
        import pyarrow as pa

        views = self._push_views.get(push_source)
        if not views:
            raise OnlineStoreUnavailable(f"push source {push_source} feeds no feature view in the registry")
        try:
            table = pa.Table.from_pylist([dict(row)])
            with self._push_lock:
                provider = self._push_store.provider
                self._tune_push_connection(provider)
                for view in views:
                    feast_compat.write_online_rows(provider, self._push_store.config, view, table)
        except Exception as error:  # any store's own error: the caller degrades
            raise OnlineStoreUnavailable(f"push to {push_source}: {type(error).__name__}: {error}") from error

    def _tune_push_connection(self, provider: Any) -> None:
        """SQLite: the push connection commits without waiting for the disk (synchronous=NORMAL).

        In WAL mode a commit then costs no fsync (3.5 ms per push on a busy disk); the file can never be
        corrupted, and a power cut can lose only the last pushes, which the next batch run (dbt
        over the events, then materialize) recomputes anyway. Reads use their own connection and
        are unaffected.
        """
        if self._push_connection_tuned or self.settings.online_store != "sqlite":
            return
        connection = feast_compat.sqlite_connection(provider, self._push_store.config)
        if connection is not None:
            connection.execute("pragma synchronous=normal")
        self._push_connection_tuned = True

    def close(self) -> None:
        for store in (self.store, self._push_store):
            feast_compat.close_sqlite_connection(store.provider)


def _epoch_seconds(value: Any) -> datetime | None:
    """`get_online_features`' event time (whole epoch seconds, 0 when absent) as a UTC datetime or None."""
    return datetime.fromtimestamp(value, tz=UTC) if isinstance(value, (int, float)) and value > 0 else None


def _whole_second(value: datetime | None) -> datetime | None:
    """A row's event time (naive = UTC) as an aware UTC datetime in whole seconds; None if absent or not after the epoch."""
    if value is None:
        return None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    value = value.replace(microsecond=0)
    return value if value.timestamp() > 0 else None
