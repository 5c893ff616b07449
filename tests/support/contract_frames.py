"""Small raw tables in the event contract's columns, as a source's CSV export would hold them (text)."""

from __future__ import annotations

import pandas as pd


def events_frame() -> pd.DataFrame:
    """Three events: a web page view and login, an app screen view (an offset timestamp, an empty dwell)."""
    return pd.DataFrame(
        {
            "event_id": ["e1", "e2", "e3"],
            "event_ts": ["2026-02-01T10:00:00Z", "2026-02-01T10:01:30Z", "2026-02-01T10:03:00+01:00"],
            "platform": ["web", "web", "app"],
            "anonymous_id": ["a1", "a1", "d9"],
            "customer_id": [None, "c1", "c1"],
            "event_type": ["page_view", "login", "screen_view"],
            "page_path": ["/mortgages/rates", "/login", "/app/accounts/overview"],
            "page_title": ["Mortgage Rates", "Log in", "Accounts"],
            "search_query": [None, None, None],
            "dwell_ms": ["12000", "3000", ""],
            "referrer": ["google.com", None, None],
            "utm_source": [None, None, None],
            "device_type": ["desktop", "desktop", "mobile"],
            "product_id": ["p_mort30", None, None],
        }
    )


def products_frame() -> pd.DataFrame:
    """One product, the mortgage the first event is about."""
    return pd.DataFrame(
        {
            "product_id": ["p_mort30"],
            "product_name": ["30-Year Fixed Mortgage"],
            "family": ["home"],
            "category": ["mortgage"],
            "launched_ts": ["2020-01-01T00:00:00Z"],
            "annual_fee_usd": [None],
            "interest_rate_pct": ["6.1"],
            "min_opening_usd": ["50000"],
            "target_segment": [None],
            "complexity": ["3"],
        }
    )
