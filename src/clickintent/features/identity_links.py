"""How many web sessions reach a customer, with the login session alone and with stitching.

Written by the build stage after every successful `clickintent build` to
`<data dir>/reports/identity_links.json`, from the marts it just committed
(fct_web_login_links, fct_web_sessions), so the figure in docs/measurements.md has a file behind
it. Counts only: no identifier is written.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from clickintent.artifacts import atomic_write_json
from clickintent.features.partitioned_marts import mart_location, parquet_pattern
from clickintent.settings import Settings

REPORT_NAME = "identity_links.json"


def identity_link_counts(settings: Settings) -> dict[str, object]:
    """Kept web sessions, and the sessions and customers linked by login alone and with stitching."""
    links = mart_location(settings.marts_dir, "fct_web_login_links")
    sessions = mart_location(settings.marts_dir, "fct_web_sessions")
    for path in (links, sessions):
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: build the dbt marts first (`clickintent build`)")
    with duckdb.connect() as connection:
        (kept,) = connection.execute("select count(*) from read_parquet(?)", [parquet_pattern(sessions)]).fetchone()
        login, stitched, login_customers, all_customers = connection.execute(
            """
            select
                count(*) filter (where link_method = 'web_session_login'),
                count(*) filter (where link_method = 'stitched'),
                count(distinct customer_id) filter (where link_method = 'web_session_login'),
                count(distinct customer_id)
            from read_parquet(?)
            """,
            [parquet_pattern(links)],
        ).fetchone()
    return {
        "identity_linking": settings.identity_linking,
        "stitch_window_days": settings.stitch_window_days,
        "web_sessions_kept": kept,
        "linked_web_sessions": {"login_session_alone": login, "stitched": stitched, "with_stitching": login + stitched},
        "share_of_web_sessions_linked": {
            "login_session_alone": round(login / kept, 4) if kept else 0.0,
            "with_stitching": round((login + stitched) / kept, 4) if kept else 0.0,
        },
        "customers_with_linked_web_sessions": {"login_session_alone": login_customers, "with_stitching": all_customers},
    }


def write_identity_link_report(settings: Settings) -> Path | None:
    """`<data dir>/reports/identity_links.json`, written atomically; its path, or None when the
    marts it counts are not there (a `--select` build of other models into an empty directory)."""
    if not all(mart_location(settings.marts_dir, mart).exists() for mart in ("fct_web_login_links", "fct_web_sessions")):
        return None
    path = settings.reports_dir / REPORT_NAME
    atomic_write_json(path, identity_link_counts(settings))
    return path
