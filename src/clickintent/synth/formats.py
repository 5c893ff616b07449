"""The synthetic world's events in a tracker's own shape: Snowplow, GA4 or Segment tables.

`clickintent generate --format snowplow|ga4|segment` writes these instead of the contract's
events table (products, customers, conversions and tile impressions stay the contract's). The
dbt staging models under dbt_project/models/staging/<shape>/ map them back, and a build through
them gives the same feature marts as a build from the contract (tests/synth/test_formats.py).

Each writer is the inverse of its adapter, written in the tracker's terms (docs/sources.md):
- Snowplow (atomic.events): one row per event plus one page ping at the end of its dwell; each
  event carries its own web_page context id, so the ping's time is that event's reading time.
  App events are `mob` with the screen in the mobile screen context and the device id in the
  client_session context.
- GA4 (the BigQuery export): event_timestamp in microseconds, event_params a list of key/value
  structs (page_location or firebase_screen, page_title, search_term, engagement_time_msec,
  page_referrer, source, and an event_id parameter), device.category, items for the product.
- Segment: pages (web page views), screens (app screen views), identifies (logins) and tracks
  (the rest, named as Segment's spec names them), custom properties product_id, dwell_ms, query.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from clickintent.events.shapes import SOURCE_SHAPES

# The site's host: GA4 records full URLs, the contract paths.
SITE_URL = "https://www.example-bank.com"
# Contract event type -> Segment track event (a slug, as Segment lands `event`); page views,
# screen views and logins are their own calls.
SEGMENT_TRACKS = {
    "search": "products_searched",
    "logout": "signed_out",
    "form_start": "form_started",
    "form_submit": "form_submitted",
    "calculator": "calculator_used",
    "click": "element_clicked",
}
# Contract event type -> Snowplow event_name, for the types Snowplow tracks itself (a page view is
# its own `page_view` event, the others self-describing `unstruct` events); any other type is a
# structured event with the type as se_action.
SNOWPLOW_EVENT_NAMES = {
    "page_view": "page_view",
    "screen_view": "screen_view",
    "search": "site_search",
    "click": "link_click",
    "form_start": "focus_form",
    "form_submit": "submit_form",
}
# A user agent (web) or a device model (app) per device class, as Segment's context carries them.
SEGMENT_DEVICE_TEXT = {
    ("web", "desktop"): "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
    ("web", "mobile"): "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    ("web", "tablet"): "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    ("web", "other"): "Mozilla/5.0 (PlayStation 5 3.11) AppleWebKit/605.1.15",
    ("app", "mobile"): "iPhone15,2",
    ("app", "tablet"): "iPad13,1",
}


def _query(events: pa.Table, sql: str) -> pa.Table:
    with duckdb.connect() as connection:
        connection.execute("set TimeZone = 'UTC'")
        connection.register("events", events)
        return connection.sql(sql).to_arrow_table()


def to_snowplow(events: pa.Table) -> dict[str, pa.Table]:
    """atomic.events: the events and a page ping at the end of each one's dwell."""
    tracked = ", ".join(f"'{event_type}'" for event_type in SNOWPLOW_EVENT_NAMES)
    event_names = " ".join(f"when '{event_type}' then '{name}'" for event_type, name in SNOWPLOW_EVENT_NAMES.items())
    sql = f"""
    with shaped as (
        select
            event_id,
            case platform when 'web' then 'web' else 'mob' end as platform,
            case
                when event_type = 'page_view' then 'page_view'
                when event_type in ({tracked}) then 'unstruct'
                else 'struct'
            end as event,
            case event_type {event_names} else 'event' end as event_name,
            event_ts,
            dwell_ms,
            case when platform = 'web' then anonymous_id end as domain_userid,
            cast(null as varchar) as network_userid,
            customer_id as user_id,
            cast(null as varchar) as domain_sessionid,
            case when platform = 'web' then page_path end as page_urlpath,
            page_title,
            case when referrer is not null then 'https://' || referrer || '/' end as page_referrer,
            referrer as refr_urlhost,
            cast(null as varchar) as refr_medium,
            utm_source as mkt_source,
            case device_type when 'desktop' then 'Computer' when 'mobile' then 'Mobile' when 'tablet' then 'Tablet' else 'Unknown' end
                as dvce_type,
            case when event_type not in ({tracked}) then 'clickintent' end as se_category,
            case when event_type not in ({tracked}) then event_type end as se_action,
            to_json([{{'id': event_id}}]) :: varchar as contexts_com_snowplowanalytics_snowplow_web_page_1_0_0,
            case when platform <> 'web' then to_json([{{'name': page_path, 'id': event_id}}]) :: varchar end
                as contexts_com_snowplowanalytics_mobile_screen_1_0_0,
            case when platform <> 'web' and event_type = 'screen_view' then to_json({{'name': page_path, 'id': event_id}}) :: varchar end
                as unstruct_event_com_snowplowanalytics_mobile_screen_view_1_0_0,
            case when platform <> 'web' then to_json([{{'userId': anonymous_id}}]) :: varchar end
                as contexts_com_snowplowanalytics_snowplow_client_session_1_0_1,
            case when product_id is not null then to_json([{{'id': product_id}}]) :: varchar end
                as contexts_com_snowplowanalytics_snowplow_ecommerce_product_1_0_0,
            case when event_type = 'search' and search_query is not null then to_json({{'terms': string_split(search_query, ' ')}}) :: varchar end
                as unstruct_event_com_snowplowanalytics_snowplow_site_search_1_0_0
        from events
    ),
    pings as (
        select
            * replace (
                'pp_' || event_id as event_id,
                'page_ping' as event,
                'page_ping' as event_name,
                event_ts + to_milliseconds(dwell_ms) as event_ts,
                null as se_category,
                null as se_action,
                null as page_referrer,
                null as refr_urlhost,
                null as mkt_source,
                null as unstruct_event_com_snowplowanalytics_mobile_screen_view_1_0_0,
                null as unstruct_event_com_snowplowanalytics_snowplow_site_search_1_0_0
            )
        from shaped
        where dwell_ms is not null
    ),
    stream as (
        select * from shaped union all select * from pings
    )
    select
        * exclude (event_ts, dwell_ms),
        event_ts as derived_tstamp,
        event_ts as collector_tstamp,
        event_ts as dvce_created_tstamp
    from stream
    order by derived_tstamp, event_id
    """
    return {"snowplow_events": _query(events, sql)}


def to_ga4(events: pa.Table) -> dict[str, pa.Table]:
    """The GA4 export: one row per event, parameters as a nested list of key/value structs."""

    def param(key: str, expression: str, kind: str = "string_value") -> str:
        values = {
            "string_value": "null::varchar",
            "int_value": "null::bigint",
            "float_value": "null::double",
            "double_value": "null::double",
        }
        values[kind] = expression
        value = ", ".join(f"{name} := {typed}" for name, typed in values.items())
        return f"struct_pack(key := '{key}', value := struct_pack({value}))"

    params = [
        param("event_id", "event_id"),
        param("page_location", f"case when platform = 'web' then '{SITE_URL}' || page_path end"),
        param("firebase_screen", "case when platform <> 'web' then page_path end"),
        param("page_title", "page_title"),
        param("search_term", "search_query"),
        param("engagement_time_msec", "dwell_ms", "int_value"),
        param("page_referrer", "referrer"),
        param("source", "utm_source"),
    ]
    sql = f"""
    select
        strftime(event_ts, '%Y%m%d') as event_date,
        epoch_us(event_ts) as event_timestamp,
        event_type as event_name,
        list_filter([{", ".join(params)}], lambda p: p.value.string_value is not null or p.value.int_value is not null) as event_params,
        customer_id as user_id,
        anonymous_id as user_pseudo_id,
        case when platform = 'web' then 'WEB' when device_type = 'tablet' then 'ANDROID' else 'IOS' end as platform,
        struct_pack(category := case when device_type = 'other' then 'smart tv' else device_type end) as device,
        case when product_id is not null then [struct_pack(item_id := product_id)] else [] end as items
    from events
    order by event_timestamp, event_id
    """
    return {"ga4_events": _query(events, sql)}


def to_segment(events: pa.Table) -> dict[str, pa.Table]:
    """Segment's pages, screens, identifies and tracks."""
    device_text = " ".join(
        f"when platform = '{platform}' and device_type = '{device}' then '{text}'"
        for (platform, device), text in SEGMENT_DEVICE_TEXT.items()
    )
    common = f"""
        event_id as id,
        anonymous_id,
        customer_id as user_id,
        event_ts as "timestamp",
        case when platform = 'web' then 'analytics.js' else 'analytics-ios' end as context_library_name,
        case when platform = 'web' then case {device_text} end end as context_user_agent,
        case when platform <> 'web' then case {device_text} end end as context_device_model,
        utm_source as context_campaign_source,
        product_id,
        dwell_ms
    """
    context_page = """
        case when platform = 'web' then page_path end as context_page_path,
        case when platform <> 'web' then page_path end as context_screen_name,
        page_title as context_page_title,
        referrer as context_page_referrer
    """
    tracks = " ".join(f"when '{event_type}' then '{slug}'" for event_type, slug in SEGMENT_TRACKS.items())
    queries = {
        "segment_pages": f"select {common}, page_path as path, page_title as title, referrer, '{SITE_URL}' || page_path as url "
        "from events where event_type = 'page_view'",
        "segment_screens": f"select {common}, page_path as name, page_title as title from events where event_type = 'screen_view'",
        "segment_identifies": f"select {common}, {context_page} from events where event_type = 'login'",
        "segment_tracks": f"select {common}, {context_page}, case event_type {tracks} else event_type end as event, "
        "search_query as query from events where event_type not in ('page_view', 'screen_view', 'login')",
    }
    return {name: _query(events, sql + ' order by "timestamp", id') for name, sql in queries.items()}


WRITERS = {"snowplow": to_snowplow, "ga4": to_ga4, "segment": to_segment}


def shaped_raw_tables(raw: dict[str, pa.Table], shape: str) -> dict[str, pa.Table]:
    """The raw table set with the contract's events replaced by the shape's tables."""
    if shape == "contract":
        return raw
    if shape not in WRITERS:
        raise ValueError(f"unknown format {shape!r}; one of {', '.join(SOURCE_SHAPES)}")
    shaped = {name: table for name, table in raw.items() if name != "events"}
    shaped.update(WRITERS[shape](raw["events"]))
    return shaped
