{{ config(enabled=source_shape_is('ga4')) }}
-- The Google Analytics 4 BigQuery export (events_*) as the contract's events (docs/sources.md
-- has the mapping column by column). event_params stays nested as the export lands it (a list
-- of key/value structs) and is read by key. user_engagement events are not events: their
-- engagement_time_msec adds to the dwell of the event before them in the same GA session.
-- session_start, first_visit and first_open are markers GA4 adds, not something the visitor did.

with

source as (

    select * from {{ source('ga4', 'events') }}

),

flattened as (

    select
        -- GA4 has no event id: an `event_id` parameter when the site sends one (the usual
        -- deduplication key), else a hash of what identifies the event
        coalesce(
            {{ ga4_param('event_id') }},
            md5(concat_ws('|', user_pseudo_id, event_timestamp, event_name, {{ ga4_int_param('ga_session_id') }}, {{ ga4_param('page_location') }}))
        ) as event_id,
        cast(make_timestamp(event_timestamp) as timestamptz) as event_ts,
        upper(platform) as ga_platform,
        user_pseudo_id,
        user_id,
        event_name,
        {{ ga4_int_param('ga_session_id') }} as ga_session_id,
        {{ ga4_param('page_location') }} as page_location,
        {{ ga4_param('firebase_screen') }} as firebase_screen,
        {{ ga4_param('page_title') }} as page_title,
        {{ ga4_param('search_term') }} as search_term,
        {{ ga4_int_param('engagement_time_msec') }} as engagement_time_msec,
        {{ ga4_param('page_referrer') }} as page_referrer,
        {{ ga4_param('source') }} as campaign_source,
        device.category as device_category,
        items[1].item_id as item_id

    from source
    where event_name not in ('session_start', 'first_visit', 'first_open')
    -- the export repeats an event a client retried; one row per event
    {{ one_row_per_event('event_ts') }}

),

-- each user_engagement belongs to the latest event before it of the same user and GA session
stream as (

    select
        *,
        event_name = 'user_engagement' as is_engagement,
        {{ owner_rank("event_name = 'user_engagement'", 'user_pseudo_id, ga_session_id', 'event_ts', 'event_id') }} as owner_rank
    from flattened

),

engagement as (

    select user_pseudo_id, ga_session_id, owner_rank, sum(engagement_time_msec) as engagement_time_msec
    from stream
    where is_engagement and owner_rank > 0
    group by all

),

events as (

    select stream.*, engagement.engagement_time_msec as later_engagement_time_msec
    from stream
    left join engagement
        on stream.user_pseudo_id = engagement.user_pseudo_id
        and stream.ga_session_id is not distinct from engagement.ga_session_id
        and stream.owner_rank = engagement.owner_rank
    where not stream.is_engagement

),

renamed as (

    select
        event_id,
        event_ts,
        case when ga_platform = 'WEB' then 'web' else 'app' end as platform,
        user_pseudo_id as anonymous_id,
        user_id as customer_id,
        case event_name
            when 'view_search_results' then 'search'
            else event_name
        end as event_type,
        coalesce(
            nullif(regexp_extract(page_location, '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*([^?#]*)', 1), ''),
            firebase_screen,
            case when page_location is not null then '/' end
        ) as page_path,
        page_title,
        search_term as search_query,
        case
            when engagement_time_msec is null and later_engagement_time_msec is null then null
            else coalesce(engagement_time_msec, 0) + coalesce(later_engagement_time_msec, 0)
        end as dwell_ms,
        page_referrer as referrer,
        campaign_source as utm_source,
        coalesce({{ contract_device_type('device_category') }}, 'other') as device_type,
        item_id as product_id

    from events
    where ga_platform in ('WEB', 'IOS', 'ANDROID')

)

select * from renamed
