{{ config(enabled=source_shape_is('snowplow'), materialized='ephemeral') }}
-- Snowplow's atomic.events read once for both Snowplow staging models: one row per event_id,
-- the columns they map, the context columns' ids parsed out of their JSON.
{%- set columns = relation_columns(source('snowplow', 'events')) %}

with

source as (

    select * from {{ source('snowplow', 'events') }}

),

-- atomic.events is delivered at least once: a repeated event_id is one event (the first to
-- reach the collector is kept, as Snowplow's own models do).
deduplicated as (

    select
        event_id,
        platform,
        event,
        coalesce(event_name, event) as event_name,
        cast(derived_tstamp as timestamptz) as derived_tstamp,
        cast(dvce_created_tstamp as timestamptz) as dvce_created_tstamp,
        domain_userid,
        network_userid,
        user_id,
        domain_sessionid,
        page_urlpath,
        page_title,
        page_referrer,
        refr_urlhost,
        refr_medium,
        mkt_source,
        dvce_type,
        se_action,
        json_extract_string({{ column_or_null(columns, 'contexts_com_snowplowanalytics_snowplow_web_page_1_0_0') }}, '$[0].id') as page_view_id,
        json_extract_string({{ column_or_null(columns, 'contexts_com_snowplowanalytics_mobile_screen_1_0_0') }}, '$[0].name') as screen_name,
        json_extract_string({{ column_or_null(columns, 'unstruct_event_com_snowplowanalytics_mobile_screen_view_1_0_0') }}, '$.name') as screen_view_name,
        json_extract_string({{ column_or_null(columns, 'contexts_com_snowplowanalytics_snowplow_client_session_1_0_1') }}, '$[0].userId') as device_user_id,
        json_extract_string({{ column_or_null(columns, 'contexts_com_snowplowanalytics_snowplow_ecommerce_product_1_0_0') }}, '$[0].id') as product_id,
        json_extract_string({{ column_or_null(columns, 'contexts_nl_basjes_yauaa_context_1_0_0') }}, '$[0].deviceClass') as yauaa_device_class,
        json_extract_string({{ column_or_null(columns, 'unstruct_event_com_snowplowanalytics_snowplow_site_search_1_0_0') }}, '$.terms[*]') as search_terms

    from source
    where event_id is not null
    {{ one_row_per_event('collector_tstamp, derived_tstamp') }}

)

select * from deduplicated
