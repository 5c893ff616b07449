"""What the taxonomy stage reads: sessions from the dbt mart, pages from the raw events.

- Sessions: `<data_dir>/marts/fct_session_sequences/` (one row per non-bot session, web
  and app, events as arrays), as dbt built it. Its search queries are already masked by dbt.
- Pages: every distinct page_path of the raw events with its most frequent title, platform and
  traffic. Error pages (404, /wp-admin probes ...) are flagged with dbt's own rule
  (`dbt_rules.is_unknown_page_over_titles`: every title the page was shown with says so) and left
  out of the taxonomy: dbt maps them to 'unknown'.

Nothing here reads the ground truth.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pandas as pd

from clickintent.events.partitions import raw_event_files
from clickintent.features.partitioned_marts import mart_location, parquet_relation
from clickintent.privacy.redaction import redaction_sql
from clickintent.settings import Settings
from clickintent.taxonomy.dbt_rules import is_unknown_page_over_titles

SESSION_COLUMNS = (
    "session_id",
    "platform",
    "anonymous_id",
    "customer_id",
    "session_start_ts",
    "session_end_ts",
    "n_events",
    "page_paths",
    "event_types",
    "dwell_ms",
    "search_queries",
)


class TaxonomyInputError(FileNotFoundError):
    """An input of the taxonomy stage is missing; says which stage produces it."""


def sequences_path(settings: Settings) -> Path:
    return mart_location(settings.marts_dir, "fct_session_sequences")


def event_files(settings: Settings) -> list[str]:
    """The raw contract events' files: one, or the day partitions' (events.partitions)."""
    return [str(path) for path in raw_event_files(settings.raw_dir)]


def load_sessions(settings: Settings, columns: tuple[str, ...] = SESSION_COLUMNS) -> pd.DataFrame:
    """Sessions from the dbt mart, ordered by session_id (a stable order for seeded sampling)."""
    path = sequences_path(settings)
    if not path.exists():
        raise TaxonomyInputError(f"no session mart at {path}: run `clickintent build` (dbt) first")
    with duckdb.connect() as connection:
        connection.execute(f"set threads = {int(settings.threads)}")
        frame = connection.execute(f"select {', '.join(columns)} from {parquet_relation(path)} order by session_id").df()
    return frame


def load_pages(settings: Settings) -> pd.DataFrame:
    """One row per distinct page_path of the raw events: page_path, page_title (most frequent),
    platform ('web' if ever seen on the web, else 'app'), n_events, is_error_page.

    The contract's events are read from their file; a tracker's (settings.source_shape) through
    dbt's `stg_events` view in the warehouse, the contract-shaped events its adapter gives."""
    if settings.source_shape == "contract":
        files = event_files(settings)
        if not files:
            raise TaxonomyInputError(f"no raw events in {settings.raw_dir}: run `clickintent generate` or `clickintent load` first")
        source, parameters, database = "read_parquet(?)", [files], ":memory:"
    else:
        if not settings.warehouse_path.is_file():
            raise TaxonomyInputError(
                f"no warehouse at {settings.warehouse_path}: run `clickintent build` first (the {settings.source_shape} "
                "events reach the taxonomy through dbt's stg_events)"
            )
        source, parameters, database = "stg_events", [], str(settings.warehouse_path)
    with duckdb.connect(database, read_only=database != ":memory:") as connection:
        connection.execute(f"set threads = {int(settings.threads)}")
        # Paths redacted as stg_events redacts them: the page map is joined to the marts' paths,
        # and a path with an e-mail in it must not reach the taxonomy.
        frame = connection.execute(
            f"""
            with events as (select page_path, page_title, platform from {source} where page_path is not null),
            paths as materialized (select page_path, {redaction_sql("page_path")} as redacted from (select distinct page_path from events))
            select
                paths.redacted as page_path,
                mode(page_title) filter (where page_title is not null) as page_title,
                list(distinct page_title) as page_titles,
                case when bool_or(platform = 'web') then 'web' else 'app' end as platform,
                count(*) as n_events
            from events join paths using (page_path)
            group by paths.redacted
            order by paths.redacted
            """,
            parameters,
        ).df()
    frame["page_title"] = frame["page_title"].where(frame["page_title"].notna(), None)
    frame["is_error_page"] = [
        is_unknown_page_over_titles(path, titles) for path, titles in zip(frame["page_path"], frame.pop("page_titles"))
    ]
    return frame


_SITE_SUFFIX = re.compile(r"\s*[|\u2013\u2014-]\s*([^|\u2013\u2014-]{2,60})$")


def strip_site_name(titles: pd.Series) -> pd.Series:
    """Titles without the site name most of them end with (' | Example Bank'): it says nothing
    about intent and would dominate every cluster's distinctive terms."""
    present = titles.dropna()
    if present.empty:
        return titles
    suffixes = present.map(lambda title: (m := _SITE_SUFFIX.search(title)) and m.group(1).strip())
    counts = suffixes.dropna().value_counts()
    if counts.empty or counts.iloc[0] < 0.3 * len(present):
        return titles
    site = counts.index[0]
    pattern = re.compile(r"\s*[|\u2013\u2014-]\s*" + re.escape(site) + r"$")
    return titles.map(lambda title: pattern.sub("", title) if isinstance(title, str) else title)


def page_text(page_path: str, title: str | None) -> str:
    """What is embedded for a page: its title and the words of its path."""
    words = " ".join(re.split(r"[/_\-.]+", page_path)).strip()
    if title and title.strip():
        return f"{title.strip()}. {words}" if words else title.strip()
    return words or "home"
