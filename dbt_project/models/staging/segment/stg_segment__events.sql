{{ config(enabled=source_shape_is('segment')) }}
-- Segment's warehouse tables as the contract's events (docs/sources.md has the mapping column
-- by column): pages are page views, screens are screen views, an identify that signs a visitor
-- in is the login, tracks are the rest, named by their event.
-- Custom properties the contract needs (product_id, dwell_ms, query) are read when the table
-- has them as columns, as Segment lands properties; absent, they are null.
{%- set track_types = {
    'products_searched': 'search',
    'signed_in': 'login',
    'signed_out': 'logout',
    'form_started': 'form_start',
    'form_submitted': 'form_submit',
    'calculator_used': 'calculator',
    'element_clicked': 'click',
} %}
{%- set tables = {
    'pages': "'page_view'",
    'screens': "'screen_view'",
    'identifies': "'login'",
    'tracks': none,
} %}

with

{% for table, event_type in tables.items() %}
{%- set relation = source('segment', table) %}
{%- set columns = relation_columns(relation) %}
{{ table }} as (

    select
        '{{ table }}' as segment_table,
        id as event_id,
        cast("timestamp" as timestamptz) as event_ts,
        {{ column_or_null(columns, 'context_library_name') }} as library_name,
        anonymous_id,
        user_id as customer_id,
        {%- if event_type is none %}
        case lower(event)
            {%- for slug, contract_type in track_types.items() %}
            when '{{ slug }}' then '{{ contract_type }}'
            {%- endfor %}
            else lower(event)
        end as event_type,
        {%- else %}
        {{ event_type }} as event_type,
        {%- endif %}
        coalesce(
            {{ column_or_null(columns, 'path') if table == 'pages' else 'cast(null as varchar)' }},
            {{ column_or_null(columns, 'name') if table == 'screens' else 'cast(null as varchar)' }},
            {{ column_or_null(columns, 'context_page_path') }},
            {{ column_or_null(columns, 'context_screen_name') }}
        ) as page_path,
        coalesce({{ column_or_null(columns, 'title') }}, {{ column_or_null(columns, 'context_page_title') }}) as page_title,
        {{ column_or_null(columns, 'query') }} as search_query,
        cast({{ column_or_null(columns, 'dwell_ms', 'bigint') }} as bigint) as dwell_ms,
        coalesce(
            {{ column_or_null(columns, 'referrer') if table == 'pages' else 'cast(null as varchar)' }},
            {{ column_or_null(columns, 'context_page_referrer') }}
        ) as referrer,
        {{ column_or_null(columns, 'context_campaign_source') }} as utm_source,
        coalesce({{ column_or_null(columns, 'context_user_agent') }}, {{ column_or_null(columns, 'context_device_model') }}) as device_text,
        {{ column_or_null(columns, 'product_id') }} as product_id

    from {{ relation }}

),
{% endfor %}

unioned as (

    select * from pages
    union all by name select * from screens
    union all by name select * from identifies
    union all by name select * from tracks

),

renamed as (

    select
        segment_table,
        event_id,
        event_ts,
        -- analytics.js (and its wrappers) is the web; the iOS, Android and React Native libraries are the app
        case when library_name is null or library_name ilike '%analytics.js%' or library_name ilike 'analytics-next%' then 'web' else 'app' end
            as platform,
        anonymous_id,
        customer_id,
        event_type,
        page_path,
        page_title,
        search_query,
        dwell_ms,
        referrer,
        utm_source,
        -- a user agent (web) or a device model (app)
        case
            when regexp_matches(device_text, '(?i)ipad|tablet') then 'tablet'
            when regexp_matches(device_text, '(?i)mobi|iphone|android') then 'mobile'
            when regexp_matches(device_text, '(?i)windows|macintosh|x11|cros') then 'desktop'
            else 'other'
        end as device_type,
        product_id

    from unioned
    -- Segment retries a call it did not see acknowledged: one row per message id
    {{ one_row_per_event('event_ts') }}

),

-- Sites call identify on every page load once the visitor is signed in, not only at sign-in.
-- An identify is the login when it names a user and the visitor's previous identify or
-- sign-out (same anonymous_id) is not an identify of that user less than a session's
-- inactivity (var session_timeout_minutes) before it: the first identify, a change of user,
-- the first after a sign-out, or the first of a new visit. The others are dropped.
identity_history as (

    select
        *,
        lag(case when segment_table = 'identifies' then customer_id end) over identity_calls as previous_identified_user,
        lag(event_ts) over identity_calls as previous_identity_call_ts
    from renamed
    -- a partition of each visitor's identifies and sign-outs (the other calls' lags are unused)
    window identity_calls as (
        partition by anonymous_id, segment_table = 'identifies' or event_type = 'logout'
        order by event_ts, event_id
    )

)

select * exclude (segment_table, previous_identified_user, previous_identity_call_ts)
from identity_history
where segment_table <> 'identifies'
    or (
        customer_id is not null
        and not coalesce(
            previous_identified_user = customer_id
            and epoch_us(event_ts) - epoch_us(previous_identity_call_ts) < {{ var('session_timeout_minutes') | int }} * 60 * 1000000,
            false
        )
    )
