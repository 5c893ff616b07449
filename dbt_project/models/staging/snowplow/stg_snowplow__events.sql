{{ config(enabled=source_shape_is('snowplow')) }}
-- Snowplow's atomic.events as the contract's events (docs/sources.md has the mapping column by
-- column). Page pings are not events: each event's dwell_ms is the time to the last page ping
-- that follows it on the same page view. Sessions are ours (int_events_sessionized), not
-- Snowplow's domain_sessionid.

with

deduplicated as (

    -- atomic.events, one row per event_id (a repeated delivery is one event)
    select * from {{ ref('base_snowplow__events') }}

),

events as (

    select * from deduplicated where event <> 'page_ping'

),

pings as (

    select page_view_id, domain_sessionid, derived_tstamp from deduplicated where event = 'page_ping' and page_view_id is not null

),

-- Each ping belongs to the latest event before it on the same page view (and the same
-- Snowplow session: a ping hours later under another session is a stray, not reading time).
page_view_stream as (

    select event_id, page_view_id, domain_sessionid, derived_tstamp, false as is_ping
    from events where page_view_id is not null
    union all
    select null, page_view_id, domain_sessionid, derived_tstamp, true
    from pings

),

owned as (

    select
        *,
        {{ owner_rank('is_ping', 'page_view_id, domain_sessionid', 'derived_tstamp', 'event_id') }} as owner_rank
    from page_view_stream

),

dwell as (

    select
        max(event_id) as event_id,
        (epoch_us(max(derived_tstamp) filter (where is_ping)) - epoch_us(max(derived_tstamp) filter (where not is_ping))) // 1000 as dwell_ms
    from owned
    where owner_rank > 0
    group by page_view_id, domain_sessionid, owner_rank

),

renamed as (

    select
        events.event_id,
        events.derived_tstamp as event_ts,
        case events.platform when 'web' then 'web' else 'app' end as platform,
        coalesce(events.domain_userid, events.device_user_id, events.network_userid) as anonymous_id,
        events.user_id as customer_id,
        case
            when events.event = 'page_view' then 'page_view'
            when events.event_name = 'screen_view' then 'screen_view'
            when events.event_name = 'site_search' then 'search'
            when events.event_name = 'link_click' then 'click'
            when events.event_name in ('focus_form', 'change_form') then 'form_start'
            when events.event_name = 'submit_form' then 'form_submit'
            when events.event = 'struct' then lower(events.se_action)
            else events.event_name
        end as event_type,
        coalesce(events.page_urlpath, events.screen_view_name, events.screen_name) as page_path,
        events.page_title,
        array_to_string(events.search_terms, ' ') as search_query,
        dwell.dwell_ms,
        -- moving between the site's own pages is not a referral
        case when events.refr_medium is distinct from 'internal' then coalesce(events.refr_urlhost, events.page_referrer) end as referrer,
        events.mkt_source as utm_source,
        coalesce({{ contract_device_type('events.dvce_type') }}, {{ contract_device_type('events.yauaa_device_class') }}, 'other') as device_type,
        events.product_id

    from events
    left join dwell on events.event_id = dwell.event_id
    -- web and mobile trackers; server-side (srv), IoT and console events are not visits
    where events.platform in ('web', 'mob', 'app')

)

select * from renamed
