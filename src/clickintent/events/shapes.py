"""Source shapes: the raw event tables each tracker hands over, before dbt maps them to the contract.

`contract` is the event contract itself (events.contract.EVENTS). The others are a tracker's own
tables, read by the dbt staging models under dbt_project/models/staging/<shape>/ and mapped there,
column by column, to the contract's events (docs/sources.md). Only the events differ: products,
customers, conversions and tile impressions are the contract's tables in every shape.

No imports: the settings read SOURCE_SHAPES, and the CLI reads the settings before anything else.
"""

from __future__ import annotations

# Raw files (`<data dir>/raw/<name>.parquet`) that hold a shape's events. dbt reads a tracker's
# as the source `<shape>`, table `<name after "<shape>_">` (models/staging/_source_shapes.yml).
SHAPE_EVENT_TABLES: dict[str, tuple[str, ...]] = {
    "contract": ("events",),
    "snowplow": ("snowplow_events",),  # atomic.events, one row per event (page pings included)
    "ga4": ("ga4_events",),  # the BigQuery export's events_* tables, nested event_params kept
    "segment": ("segment_pages", "segment_screens", "segment_tracks", "segment_identifies"),
}
SOURCE_SHAPES = tuple(SHAPE_EVENT_TABLES)


def catalogue_tables() -> tuple[str, ...]:
    """The contract's tables every shape provides as they are: all but the contract's events."""
    from clickintent.events.contract import RAW_TABLES

    return tuple(name for name in RAW_TABLES if name not in SHAPE_EVENT_TABLES["contract"])


def raw_table_names(shape: str) -> tuple[str, ...]:
    """Every raw file name (without `.parquet`) a build of this shape reads."""
    if shape not in SHAPE_EVENT_TABLES:
        raise ValueError(f"unknown source shape {shape!r}; one of {', '.join(SOURCE_SHAPES)}")
    return SHAPE_EVENT_TABLES[shape] + catalogue_tables()
