{{ config(enabled=source_shape_is('snowplow')) }}
-- One row per Snowplow page view with its engaged and absolute time, by Snowplow's own rule, so
-- that a Snowplow user can check this adapter against their snowplow_web_page_views: engaged
-- time = heartbeat x (distinct heartbeat intervals with a ping - 1) + minimum visit length;
-- absolute time = last ping - page view, whole seconds. Pings count within the page view's
-- Snowplow session only. Not read by the marts (stg_snowplow__events carries dwell_ms).
with

events as (

    select event_id, event, domain_sessionid, derived_tstamp, dvce_created_tstamp, page_urlpath, page_title, page_view_id
    from {{ ref('base_snowplow__events') }}
    where event in ('page_view', 'page_ping')

),

page_views as (

    select * exclude (event)
    from events
    where event = 'page_view' and page_view_id is not null
    -- one page view per page_view_id, the first (a tracker may resend it)
    qualify row_number() over (partition by page_view_id order by derived_tstamp, event_id) = 1

),

pings as (

    select
        page_view_id,
        domain_sessionid,
        max(derived_tstamp) as last_ping_tstamp,
        count(distinct floor(epoch(dvce_created_tstamp) / {{ var('snowplow_heartbeat_seconds') }})) as ping_intervals

    from events
    where event = 'page_ping'
    group by page_view_id, domain_sessionid

)

select
    page_views.page_view_id,
    page_views.event_id,
    page_views.domain_sessionid,
    page_views.derived_tstamp,
    page_views.page_urlpath,
    page_views.page_title,
    coalesce(
        {{ var('snowplow_heartbeat_seconds') }} * (pings.ping_intervals - 1) + {{ var('snowplow_min_visit_length_seconds') }}, 0
    ) as engaged_time_in_s,
    coalesce(date_diff('second', page_views.derived_tstamp, pings.last_ping_tstamp), 0) as absolute_time_in_s

from page_views
left join pings
    on page_views.page_view_id = pings.page_view_id
    and page_views.domain_sessionid is not distinct from pings.domain_sessionid
