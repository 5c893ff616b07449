"""Counts of a built data directory, for the demo summary: read back from what dbt wrote."""

from __future__ import annotations

from pathlib import Path

import duckdb

from clickintent.features.dbt import session_filter_counts
from clickintent.features.manifest import read_feast_marts
from clickintent.features.partitioned_marts import mart_location, parquet_relation
from clickintent.settings import Settings


def _rows(parquet: Path) -> int:
    with duckdb.connect() as connection:
        return connection.execute(f"select count(*) from {parquet_relation(parquet)}").fetchone()[0]


def warehouse_summary(settings: Settings) -> dict[str, int]:
    """Events, sessions, bots removed, linked sessions and feature rows of the last build."""
    counts = session_filter_counts(settings)
    kept = sum(classes.get("kept", 0) for classes in counts.values())
    removed = sum(n for classes in counts.values() for session_class, n in classes.items() if session_class != "kept")
    marts = settings.marts_dir
    summary = {
        "web sessions": counts.get("web", {}).get("kept", 0),
        "app sessions": counts.get("app", {}).get("kept", 0),
        "sessions kept": kept,
        "bot and junk sessions removed": removed,
        "web sessions linked to a customer (login)": _rows(mart_location(marts, "fct_web_login_links")),
    }
    from clickintent.features.dbt import manifest_path

    for mart in read_feast_marts(manifest_path(settings)):
        path = mart_location(marts, mart.model)
        if path.exists():
            summary[f"rows: {mart.model}"] = _rows(path)
    return summary
