-- One row per raw event (web and app). Types pinned, search text redacted; nothing dropped.
-- (Which pages do not exist is decided once per page in int_page_taxonomy, not per event.)
with

source as (

    select * from {{ source('raw', 'events') }}

),

renamed as (

    select
        event_id,
        cast(event_ts as timestamptz) as event_ts,
        platform,
        anonymous_id,
        customer_id,
        event_type,
        page_path,
        page_title,
        {{ redact_search_query('search_query') }} as search_query_redacted,
        cast(dwell_ms as bigint) as dwell_ms,
        referrer,
        utm_source,
        device_type,
        product_id

    from source

)

select * from renamed
