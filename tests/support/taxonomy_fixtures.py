"""Small inputs for the taxonomy tests, in the brief's schemas.

- `build_small_world`: a synthetic world (clickintent.synth) and, instead of a full dbt build
  (about 30 s), its session mart from one DuckDB query with the same sessionization (30 minutes
  of inactivity per anonymous_id and platform) and the same redaction of paths and search queries as dbt. One
  test (test_taxonomy_offline.py) runs the real dbt build on top, to show dbt reads the page map.
- `write_mart`: a hand-made fct_session_sequences from event dicts, for the LLM-path tests.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from clickintent.events.contract import EVENTS
from clickintent.privacy.redaction import redaction_sql
from clickintent.settings import Settings

SESSION_MART_QUERY = """
copy (
  with ordered as (
    select *,
      case when lag(event_ts) over w is null
             or event_ts - lag(event_ts) over w >= interval 30 minute then 1 else 0 end as is_new
    from read_parquet('{raw}/events.parquet')
    window w as (partition by anonymous_id, platform order by event_ts, event_id)
  ), numbered as (
    select *, sum(is_new) over (partition by anonymous_id, platform order by event_ts, event_id
                                rows unbounded preceding) as session_number
    from ordered
  ), events as (
    select *, md5(anonymous_id || '|' || platform || '|' || session_number) as session_id,
      coalesce(event_ts - lag(event_ts) over (partition by anonymous_id, platform, session_number order by event_ts, event_id),
               interval 0 second) as gap
    from numbered
  )
  select
    session_id, any_value(platform) as platform, any_value(anonymous_id) as anonymous_id,
    max(customer_id) as customer_id, min(event_ts) as session_start_ts, max(event_ts) as session_end_ts,
    count(*) as n_events,
    list(event_id order by event_ts, event_id) as event_ids,
    list(__REDACTED_PAGE_PATH__ order by event_ts, event_id) as page_paths,
    list(event_type order by event_ts, event_id) as event_types,
    list('section:x' order by event_ts, event_id) as taxonomy_node_ids,
    list('section:x' order by event_ts, event_id) as top_taxonomy_node_ids,
    list(coalesce(dwell_ms, 0) order by event_ts, event_id) as dwell_ms,
    list(cast(epoch_ms(gap) as bigint) order by event_ts, event_id) as gap_ms,
    list(__REDACTED_SEARCH_QUERY__ order by event_ts, event_id) as search_queries
  from events
  group by session_id
  order by session_id
) to '{marts}/fct_session_sequences.parquet' (format parquet)
""".replace("__REDACTED_PAGE_PATH__", redaction_sql("page_path").replace("{", "{{").replace("}", "}}")).replace(
    "__REDACTED_SEARCH_QUERY__", redaction_sql("search_query").replace("{", "{{").replace("}", "}}")
)


def build_session_mart(settings: Settings) -> None:
    settings.marts_dir.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as connection:
        connection.execute(SESSION_MART_QUERY.format(raw=settings.raw_dir, marts=settings.marts_dir))


def build_small_world(settings: Settings, target_events: int = 40_000) -> None:
    from clickintent.synth import generate_world

    generate_world(settings, target_events=target_events)
    build_session_mart(settings)


T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def write_raw_events(settings: Settings, sessions: list[list[dict]]) -> None:
    """Raw events (the contract's events table) for hand-made sessions: one anonymous visitor
    per session, events a minute apart; other contract tables are not needed here."""
    rows = []
    for number, events in enumerate(sessions):
        for index, event in enumerate(events):
            rows.append(
                {
                    "event_id": f"e{number:04d}_{index:03d}",
                    "event_ts": T0 + timedelta(days=number, minutes=index),
                    "platform": event.get("platform", "web"),
                    "anonymous_id": f"a_{number:04d}",
                    "customer_id": None,
                    "event_type": event.get("event_type", "page_view"),
                    "page_path": event["page_path"],
                    "page_title": event.get("page_title"),
                    "search_query": event.get("search_query"),
                    "dwell_ms": event.get("dwell_ms", 20_000),
                    "referrer": None,
                    "utm_source": None,
                    "device_type": "desktop",
                    "product_id": None,
                }
            )
    settings.raw_dir.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=EVENTS.arrow_schema())
    pq.write_table(table, Path(settings.raw_dir) / "events.parquet")


def replace_events(settings: Settings, frame) -> None:
    """Overwrite the raw events with a DataFrame, in the contract's Arrow schema (microsecond UTC)."""
    table = pa.Table.from_pandas(frame[EVENTS.column_names], schema=EVENTS.arrow_schema(), preserve_index=False)
    pq.write_table(table, Path(settings.raw_dir) / "events.parquet")


def write_hand_made_world(settings: Settings, sessions: list[list[dict]]) -> None:
    write_raw_events(settings, sessions)
    build_session_mart(settings)
