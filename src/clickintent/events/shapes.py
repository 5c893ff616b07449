"""Source shapes: the raw event tables each tracker hands over, before dbt maps them to the contract.

`contract` is the event contract itself (events.contract.EVENTS). The others are a tracker's own
tables, read by the dbt staging models under dbt_project/models/staging/<shape>/ and mapped there,
column by column, to the contract's events (docs/sources.md). Only the events differ: products,
customers, conversions and tile impressions are the contract's tables in every shape.
"""

from __future__ import annotations

# Raw files (`<data dir>/raw/<name>.parquet`) that hold a shape's events.
SHAPE_EVENT_TABLES: dict[str, tuple[str, ...]] = {
    "contract": ("events",),
    "snowplow": ("snowplow_events",),  # atomic.events, one row per event (page pings included)
    "ga4": ("ga4_events",),  # the BigQuery export's events_* tables, nested event_params kept
    "segment": ("segment_pages", "segment_screens", "segment_tracks", "segment_identifies"),
}
SOURCE_SHAPES = tuple(SHAPE_EVENT_TABLES)
# The contract's tables every shape provides as they are.
CATALOGUE_TABLES = ("products", "customers", "conversions", "tile_impressions")


def raw_table_names(shape: str) -> tuple[str, ...]:
    """Every raw file name (without `.parquet`) a build of this shape reads."""
    if shape not in SHAPE_EVENT_TABLES:
        raise ValueError(f"unknown source shape {shape!r}; one of {', '.join(SOURCE_SHAPES)}")
    return SHAPE_EVENT_TABLES[shape] + CATALOGUE_TABLES
