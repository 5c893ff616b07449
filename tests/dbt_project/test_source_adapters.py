"""The GA4 and Segment adapters on hand-made tracker rows that the synthetic writers never produce:
user_engagement time, GA4's marker events, URLs with query strings, events without an id, a
repeated delivery, device classes outside the contract's, custom events kept as 'other'."""

from __future__ import annotations

import duckdb
import pytest

from clickintent.events.contract import RAW_TABLES
from clickintent.events.loader import replace_table_set
from clickintent.features.dbt import run_dbt_build
from clickintent.settings import load_settings

pytestmark = pytest.mark.slow

GA4_ROWS = """
with ga4_rows(event_timestamp, event_name, user_pseudo_id, platform, category, params) as (values
    (1000000, 'session_start', 'u1', 'WEB', 'desktop', [('ga_session_id', null, 7)]),
    (1000000, 'page_view', 'u1', 'WEB', 'desktop',
        [('ga_session_id', null, 7), ('page_location', 'https://bank.example/mortgages/rates?utm_source=x#top', null), ('source', 'newsletter', null)]),
    (6000000, 'user_engagement', 'u1', 'WEB', 'desktop', [('ga_session_id', null, 7), ('engagement_time_msec', null, 4000)]),
    (10000000, 'view_search_results', 'u1', 'WEB', 'desktop',
        [('ga_session_id', null, 7), ('page_location', 'https://bank.example/search?q=heloc', null), ('search_term', 'heloc', null),
         ('engagement_time_msec', null, 100)]),
    (20000000, 'user_engagement', 'u1', 'WEB', 'desktop', [('ga_session_id', null, 7), ('engagement_time_msec', '2500', null)]),
    (20000000, 'user_engagement', 'u1', 'WEB', 'desktop', [('ga_session_id', null, 7), ('engagement_time_msec', '2500', null)]),
    (30000000, 'video_start', 'u1', 'WEB', 'smart tv', [('ga_session_id', null, 7), ('page_location', 'https://bank.example/', null)]),
    (30000000, 'video_start', 'u1', 'WEB', 'smart tv', [('ga_session_id', null, 7), ('page_location', 'https://bank.example/', null)]),
    (40000000, 'screen_view', 'd9', 'IOS', 'tablet', [('ga_session_id', null, 3), ('firebase_screen', '/app/home', null)])
)
select
    1767225600000000 + event_timestamp as event_timestamp,
    event_name,
    list_transform(params, lambda p: struct_pack(
        key := p[1], value := struct_pack(string_value := p[2]::varchar, int_value := p[3]::bigint, float_value := null::double, double_value := null::double)
    )) as event_params,
    case when user_pseudo_id = 'd9' then 'c1' end as user_id,
    user_pseudo_id,
    platform,
    struct_pack(category := category) as device,
    [] :: struct(item_id varchar)[] as items
from ga4_rows
"""


def _world(root, shape: str, tables: dict):
    settings = load_settings(data_dir=root / "data", models_dir=root / "models", threads=1).model_copy(update={"source_shape": shape})
    catalogue = {name: table.arrow_schema().empty_table() for name, table in RAW_TABLES.items() if name != "events"}
    replace_table_set({**catalogue, **tables}, settings.raw_dir)
    result = run_dbt_build(settings, select=f"stg_{shape}__events stg_events", quiet=True)
    assert result.success, result.summary()
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
        rows = connection.sql(
            "select event_type, platform, anonymous_id, customer_id, page_path, search_query_redacted, dwell_ms, utm_source, device_type "
            "from stg_events order by event_ts, event_type"
        ).fetchall()
    return result, rows


def test_ga4_engagement_markers_urls_and_unknown_events(tmp_path):
    with duckdb.connect() as connection:
        ga4 = connection.sql(GA4_ROWS).to_arrow_table()
    result, rows = _world(tmp_path, "ga4", {"ga4_events": ga4})
    assert rows == [
        # session_start is a marker; user_engagement time adds to the event before it (int or text)
        ("page_view", "web", "u1", None, "/mortgages/rates", None, 4000, "newsletter", "desktop"),
        ("search", "web", "u1", None, "/search", "heloc", 100 + 2500, None, "desktop"),
        # a repeated delivery (no event_id parameter: the hash is the same) is one event
        ("other", "web", "u1", None, "/", None, None, None, "other"),
        ("screen_view", "app", "d9", "c1", "/app/home", None, None, None, "tablet"),
    ]
    assert "warn: stg_events_unknown_event_types: 1 rows" in result.summary()


def test_segment_tables_without_optional_properties(tmp_path):
    with duckdb.connect() as connection:
        pages = connection.sql(
            "select * from (values ('m1', 'a1', null, timestamptz '2026-01-02 10:00:00+00', '/cards', 'Cards', 'google.com', "
            "'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4)', 'analytics.js')) "
            "t(id, anonymous_id, user_id, timestamp, path, title, referrer, context_user_agent, context_library_name)"
        ).to_arrow_table()
        screens = connection.sql(
            "select * from (values ('m2', 'd1', 'c1', timestamptz '2026-01-02 11:00:00+00', '/app/home', 'iPad13,1', 'analytics-ios')) "
            "t(id, anonymous_id, user_id, timestamp, name, context_device_model, context_library_name)"
        ).to_arrow_table()
        tracks = connection.sql(
            "select * from (values ('m3', 'a1', null, timestamptz '2026-01-02 10:01:00+00', 'Products_Searched', 'Products Searched', "
            "'/cards', 'Mozilla/5.0 (Macintosh)', 'analytics.js', 'travel card'), "
            "('m3', 'a1', null, timestamptz '2026-01-02 10:01:00+00', 'Products_Searched', 'Products Searched', "
            "'/cards', 'Mozilla/5.0 (Macintosh)', 'analytics.js', 'travel card'), "
            "('m4', 'a1', null, timestamptz '2026-01-02 10:02:00+00', 'faq_expanded', 'FAQ Expanded', "
            "'/cards', 'Mozilla/5.0 (Macintosh)', 'analytics.js', null)) "
            "t(id, anonymous_id, user_id, timestamp, event, event_text, context_page_path, context_user_agent, context_library_name, query)"
        ).to_arrow_table()
        identifies = connection.sql(
            "select * from (values ('m5', 'a1', 'c1', timestamptz '2026-01-02 10:03:00+00', '/login')) "
            "t(id, anonymous_id, user_id, timestamp, context_page_path)"
        ).to_arrow_table()
    tables = {"segment_pages": pages, "segment_screens": screens, "segment_tracks": tracks, "segment_identifies": identifies}
    _, rows = _world(tmp_path, "segment", tables)
    assert rows == [
        ("page_view", "web", "a1", None, "/cards", None, None, None, "desktop"),
        ("search", "web", "a1", None, "/cards", "travel card", None, None, "desktop"),
        ("other", "web", "a1", None, "/cards", None, None, None, "desktop"),
        # an identify is the login; without a user agent or library name it is web, device other
        ("login", "web", "a1", "c1", "/login", None, None, None, "other"),
        ("screen_view", "app", "d1", "c1", "/app/home", None, None, None, "tablet"),
    ]


def test_segment_identify_is_a_login_only_when_it_signs_a_visitor_in(tmp_path):
    columns = "t(id, anonymous_id, user_id, timestamp, context_page_path)"
    with duckdb.connect() as connection:
        identifies = connection.sql(
            "select id, anonymous_id, user_id, timestamp::timestamptz as timestamp, context_page_path from (values "
            "('i1', 'a1', 'c1', '2026-01-02 10:03:00+00', '/login'), "  # signs in
            "('i2', 'a1', 'c1', '2026-01-02 10:05:00+00', '/cards'), "  # the next page load: no login
            "('i3', 'a1', 'c1', '2026-01-02 10:12:00+00', '/login'), "  # after signing out: a login
            "('i4', 'a1', 'c2', '2026-01-02 10:14:00+00', '/login'), "  # another user: a login
            "('i5', 'a1', 'c2', '2026-01-02 11:30:00+00', '/login'), "  # a new visit: a login
            "('i6', 'a2', null, '2026-01-02 10:00:00+00', '/')) " + columns  # traits only, nobody signs in
        ).to_arrow_table()
        tracks = connection.sql(
            "select 's1' as id, 'a1' as anonymous_id, 'c1' as user_id, timestamptz '2026-01-02 10:10:00+00' as timestamp, "
            "'signed_out' as event, '/logout' as context_page_path"
        ).to_arrow_table()
        empty = connection.sql(f"select * from (values ('x', 'x', 'x', timestamptz '2026-01-01 00:00:00+00', '/')) {columns} where false")
        pages, screens = empty.to_arrow_table(), empty.to_arrow_table()
    tables = {"segment_pages": pages, "segment_screens": screens, "segment_tracks": tracks, "segment_identifies": identifies}
    _, rows = _world(tmp_path, "segment", tables)
    assert [(event_type, customer_id, page_path) for event_type, _, _, customer_id, page_path, *_ in rows] == [
        ("login", "c1", "/login"),
        ("logout", "c1", "/logout"),
        ("login", "c1", "/login"),
        ("login", "c2", "/login"),
        ("login", "c2", "/login"),
    ]
