"""Assembly: compact chunk arrays -> the contract's raw Arrow tables and the ground-truth tables.

Events are put in time order, then a small share is delivered late (file order differs from
time order, as in real feeds; timestamps stay right). String columns are filled by taking
from small dictionaries (page paths, titles, ids), in batches to bound memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from clickintent.events.contract import (
    CONVERSION_CHANNELS,
    CONVERSIONS,
    CUSTOMER_SEGMENTS,
    CUSTOMERS,
    EVENTS,
    PLATFORMS,
    TILE_IMPRESSIONS,
    UTC_TIMESTAMP,
)
from clickintent.events.contract import (
    PRODUCTS as PRODUCTS_TABLE,
)
from clickintent.synth import ids
from clickintent.synth.behaviour import EVENT_TYPES, REFERRERS, SOURCE_REFERRER, SOURCE_UTM, UTM_SOURCES
from clickintent.synth.blocks import EventBlock, SessionBlock
from clickintent.synth.context import WorldModel
from clickintent.synth.conversions import NEVER, Conversions
from clickintent.synth.customers import Snapshots
from clickintent.synth.intents import AGE_BANDS, BOT_LABEL, INTENT_IDS, N_INTENTS, NONE_LABEL
from clickintent.synth.products import PRODUCT_IDS, PRODUCTS
from clickintent.synth.timeline import WINDOW_START_EPOCH_US
from clickintent.synth.visitors import DEVICES, Visitors

LATE_DELIVERY_SHARE = 0.005
BATCH_ROWS = 1_000_000
SESSION_LABELS = INTENT_IDS + (NONE_LABEL, BOT_LABEL)  # by session intent code (13 none, 14 bot)

VISITOR_INTENTS_SCHEMA = pa.schema(
    [
        pa.field("anonymous_id", pa.string(), nullable=False),
        pa.field("customer_id", pa.string()),
        pa.field("intents", pa.string(), nullable=False),
        pa.field("primary_intent", pa.string(), nullable=False),
        pa.field("is_bot", pa.bool_(), nullable=False),
        pa.field("is_customer", pa.bool_(), nullable=False),
    ]
)
SESSION_INTENTS_SCHEMA = pa.schema(
    [
        pa.field("true_session_id", pa.string(), nullable=False),
        pa.field("anonymous_id", pa.string(), nullable=False),
        pa.field("platform", pa.string(), nullable=False),
        pa.field("start_ts", UTC_TIMESTAMP, nullable=False),
        pa.field("end_ts", UTC_TIMESTAMP, nullable=False),
        pa.field("primary_intent", pa.string(), nullable=False),
        pa.field("intents", pa.string(), nullable=False),
        pa.field("is_bot", pa.bool_(), nullable=False),
    ]
)
EVENT_SESSIONS_SCHEMA = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("true_session_id", pa.string(), nullable=False),
    ]
)


def utc(us_since_start: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(us_since_start, dtype=np.int64) + WINDOW_START_EPOCH_US, type=pa.int64()).view(UTC_TIMESTAMP)


def _indices(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    values = np.asarray(values, dtype=np.int64)
    if valid is None:
        return pa.array(values)
    return pa.array(np.where(valid, values, 0), mask=~np.asarray(valid, dtype=bool))


def _strings(values) -> pa.Array:
    return pa.array(list(values), type=pa.string())


def _mask_strings(masks: np.ndarray, names: tuple[str, ...]) -> tuple[pa.Array, np.ndarray]:
    """';'-joined names for each bit mask, as a dictionary of the distinct masks and an index per row."""
    unique, inverse = np.unique(masks, return_inverse=True)
    texts = [";".join(name for bit, name in enumerate(names) if int(mask) >> bit & 1) for mask in unique]
    return _strings(texts), inverse


@dataclass
class Identities:
    """String ids for everything the assembly refers to by number."""

    anon_ids: pa.Array  # per distinct (namespace, counter)
    anon_of_session: np.ndarray
    customer_ids: pa.Array  # per global person index
    session_ids: pa.Array  # per global session index


def identities(seed: int, sessions: SessionBlock, n_people: int) -> Identities:
    keys = (sessions.anon_ns.astype(np.int64) << 40) | sessions.anon_counter
    unique, inverse = np.unique(keys, return_inverse=True)
    namespaces = unique >> 40
    parts = []
    for namespace in np.unique(namespaces):  # unique keys are grouped by namespace in ascending order
        counters = unique[namespaces == namespace] & ((1 << 40) - 1)
        parts.append(ids.make_ids(seed, int(namespace), "a_", counters, 16))
    anon_ids = pa.concat_arrays(parts) if parts else pa.array([], type=pa.string())
    return Identities(
        anon_ids=anon_ids,
        anon_of_session=inverse.astype(np.int64),
        customer_ids=ids.make_ids(seed, ids.NS_CUSTOMER, "c_", np.arange(n_people), 12),
        session_ids=ids.make_ids(seed, ids.NS_SESSION, "s_", np.arange(len(sessions)), 16),
    )


def file_order(seed: int, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The order events are written in, and each written event's rank in time order.

    Mostly time order; LATE_DELIVERY_SHARE of events arrive a few to a few thousand rows late.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed & 0xFFFFFFFFFFFFFFFF, 0xF11E]))
    by_time = np.argsort(ts, kind="stable")
    n = len(ts)
    late = rng.random(n) < LATE_DELIVERY_SHARE
    position = np.arange(n, dtype=np.int64) + np.where(late, rng.integers(5, 3000, n), 0)
    delivery = np.argsort(position, kind="stable")
    return by_time[delivery], delivery


def events_tables(model: WorldModel, events: EventBlock, sessions: SessionBlock, who: Identities) -> tuple[pa.Table, pa.Table]:
    """The raw events table and the ground-truth event -> true session table, in file order."""
    catalog = model.catalog
    order, time_rank = file_order(model.seed, events.ts)
    paths = _strings(page.path for page in catalog.pages)
    titles = _strings(page.title for page in catalog.pages)
    page_product = catalog.product.astype(np.int64)
    product_ids = _strings(PRODUCT_IDS)
    query_texts = _strings(model.queries.texts)
    platforms, event_types, devices = _strings(PLATFORMS), _strings(EVENT_TYPES), _strings(DEVICES)
    referrers, utm_sources = _strings(REFERRERS), _strings(UTM_SOURCES)

    event_batches, truth_batches = [], []
    for begin in range(0, len(order), BATCH_ROWS):
        rows = order[begin : begin + BATCH_ROWS]
        session = events.session[rows]
        ts = events.ts[rows]
        page = events.page[rows]
        query = events.query[rows]
        source = sessions.source[session].astype(np.int64)
        entry = (ts == sessions.start[session]) & (source >= 0)
        referrer = np.where(entry, SOURCE_REFERRER[np.maximum(source, 0)], -1)
        utm = np.where(entry, SOURCE_UTM[np.maximum(source, 0)], -1)
        product = page_product[page]
        person = sessions.person[session]
        authenticated = events.authenticated[rows]
        event_ids = ids.make_ids(model.seed, ids.NS_EVENT, "e_", time_rank[begin : begin + BATCH_ROWS], 16)
        event_batches.append(
            pa.record_batch(
                [
                    event_ids,
                    utc(ts),
                    platforms.take(_indices(sessions.platform[session])),
                    who.anon_ids.take(_indices(who.anon_of_session[session])),
                    who.customer_ids.take(_indices(np.maximum(person, 0), authenticated & (person >= 0))),
                    event_types.take(_indices(events.event_type[rows])),
                    paths.take(_indices(page)),
                    titles.take(_indices(page)),
                    query_texts.take(_indices(query, query >= 0)),
                    pa.array(events.dwell_ms[rows], type=pa.int64()),
                    referrers.take(_indices(referrer, referrer >= 0)),
                    utm_sources.take(_indices(utm, utm >= 0)),
                    devices.take(_indices(sessions.device[session])),
                    product_ids.take(_indices(product, product >= 0)),
                ],
                schema=EVENTS.arrow_schema(),
            )
        )
        truth_batches.append(pa.record_batch([event_ids, who.session_ids.take(_indices(session))], schema=EVENT_SESSIONS_SCHEMA))
    return (
        pa.Table.from_batches(event_batches, schema=EVENTS.arrow_schema()),
        pa.Table.from_batches(truth_batches, schema=EVENT_SESSIONS_SCHEMA),
    )


def products_table() -> pa.Table:
    return pa.table(
        {
            "product_id": _strings(p.product_id for p in PRODUCTS),
            "product_name": _strings(p.name for p in PRODUCTS),
            "family": _strings(p.family for p in PRODUCTS),
            "category": _strings(p.category for p in PRODUCTS),
            "launched_ts": pa.array([p.launched for p in PRODUCTS], type=UTC_TIMESTAMP),
            "annual_fee_usd": pa.array([p.annual_fee_usd for p in PRODUCTS], type=pa.float64()),
            "interest_rate_pct": pa.array([p.interest_rate_pct for p in PRODUCTS], type=pa.float64()),
            "min_opening_usd": pa.array([p.min_opening_usd for p in PRODUCTS], type=pa.float64()),
            "target_segment": pa.array([p.target_segment for p in PRODUCTS], type=pa.string()),
            "complexity": pa.array([p.complexity for p in PRODUCTS], type=pa.int64()),
        },
        schema=PRODUCTS_TABLE.arrow_schema(),
    )


def customers_table(snapshots: Snapshots, people: Visitors, who: Identities) -> pa.Table:
    order = np.lexsort((snapshots.ts, snapshots.person))
    person = snapshots.person[order]
    held, held_index = _mask_strings(snapshots.holdings[order], PRODUCT_IDS)
    return pa.table(
        {
            "customer_id": who.customer_ids.take(_indices(person)),
            "snapshot_ts": utc(snapshots.ts[order]),
            "segment": _strings(CUSTOMER_SEGMENTS).take(_indices(people.segment[person])),
            "tenure_months": pa.array(snapshots.tenure_months[order], type=pa.int64()),
            "age_band": _strings(AGE_BANDS).take(_indices(people.age_band[person])),
            "held_product_ids": held.take(_indices(held_index)),
            "total_balance_usd": pa.array(snapshots.balance[order], type=pa.float64()),
        },
        schema=CUSTOMERS.arrow_schema(),
    )


def conversions_table(seed: int, conversions: Conversions, who: Identities) -> pa.Table:
    order = np.lexsort((conversions.product, conversions.person, conversions.ts))
    return pa.table(
        {
            "conversion_id": ids.make_ids(seed, ids.NS_CONVERSION, "cv_", np.arange(len(order)), 16),
            "customer_id": who.customer_ids.take(_indices(conversions.person[order])),
            "product_id": _strings(PRODUCT_IDS).take(_indices(conversions.product[order])),
            "converted_ts": utc(conversions.ts[order]),
            "channel": _strings(CONVERSION_CHANNELS).take(_indices(conversions.channel[order])),
        },
        schema=CONVERSIONS.arrow_schema(),
    )


def tile_impressions_table(
    seed: int,
    sessions: SessionBlock,
    tile_session: np.ndarray,
    tile_position: np.ndarray,
    tile_product: np.ndarray,
    tile_clicked: np.ndarray,
    who: Identities,
) -> pa.Table:
    order = np.lexsort((tile_position, tile_session, sessions.start[tile_session]))
    session = tile_session[order]
    return pa.table(
        {
            "impression_id": ids.make_ids(seed, ids.NS_IMPRESSION, "imp_", session, 16),
            "customer_id": who.customer_ids.take(_indices(sessions.person[session])),
            "impression_ts": utc(sessions.start[session]),
            "position": pa.array(tile_position[order], type=pa.int64()),
            "product_id": _strings(PRODUCT_IDS).take(_indices(tile_product[order])),
            "clicked": pa.array(tile_clicked[order], type=pa.bool_()),
        },
        schema=TILE_IMPRESSIONS.arrow_schema(),
    )


def session_intents_table(sessions: SessionBlock, who: Identities) -> pa.Table:
    labels = _strings(SESSION_LABELS)
    named = sessions.intent < N_INTENTS
    intents, intents_index = _mask_strings(np.where(named, sessions.intents_mask, 0), INTENT_IDS)
    # Casual and bot sessions carry their label as their only "intent".
    intents_index = np.where(named, intents_index, len(intents) + sessions.intent.astype(np.int64) - N_INTENTS)
    intents = pa.concat_arrays([intents, _strings([NONE_LABEL, BOT_LABEL])])
    return pa.table(
        {
            "true_session_id": who.session_ids,
            "anonymous_id": who.anon_ids.take(_indices(who.anon_of_session)),
            "platform": _strings(PLATFORMS).take(_indices(sessions.platform)),
            "start_ts": utc(sessions.start),
            "end_ts": utc(sessions.end),
            "primary_intent": labels.take(_indices(sessions.intent)),
            "intents": intents.take(_indices(intents_index)),
            "is_bot": pa.array(sessions.is_bot, type=pa.bool_()),
        },
        schema=SESSION_INTENTS_SCHEMA,
    )


def visitor_intents_table(sessions: SessionBlock, people: Visitors, since: np.ndarray, who: Identities) -> pa.Table:
    """One row per anonymous_id seen in the events (web cookies, app devices, crawlers, scanners)."""
    n_anon = len(who.anon_ids)
    first_session = np.full(n_anon, len(sessions), dtype=np.int64)
    np.minimum.at(first_session, who.anon_of_session, np.arange(len(sessions)))
    person = sessions.person[first_session]
    human = person >= 0
    p = np.maximum(person, 0)
    intent1 = people.intent1[p].astype(np.int64)
    intent2 = people.intent2[p].astype(np.int64)
    mask = np.left_shift(1, intent1) | np.where(intent2 >= 0, np.left_shift(1, np.maximum(intent2, 0)), 0)
    intents, intents_index = _mask_strings(np.where(human, mask, 0), INTENT_IDS)
    intents_index = np.where(human, intents_index, len(intents))
    intents = pa.concat_arrays([intents, _strings([BOT_LABEL])])
    is_customer_ever = human & (since[p] < NEVER)
    primary = np.where(human, intent1, len(SESSION_LABELS) - 1)
    return pa.table(
        {
            "anonymous_id": who.anon_ids,
            "customer_id": who.customer_ids.take(_indices(p, is_customer_ever)),
            "intents": intents.take(_indices(intents_index)),
            "primary_intent": _strings(SESSION_LABELS).take(_indices(primary)),
            "is_bot": pa.array(~human, type=pa.bool_()),
            "is_customer": pa.array(human & people.is_customer[p], type=pa.bool_()),
        },
        schema=VISITOR_INTENTS_SCHEMA,
    )
