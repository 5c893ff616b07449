{#-
  Sessionization: one pass over the events, materialized once as a table that every session
  model reads.

  A session is a run of events of one anonymous_id on one platform with no gap of
  `session_timeout_minutes` (default 30) or more between consecutive events: a gap of exactly
  the timeout starts a new session. Events are ordered by (event_ts, event_id), so rows
  arriving out of order and ties in time give the same sessions every time. Sessions are not
  cut at midnight. The session id is md5('<platform>|<anonymous_id>|<first event_id>'):
  stable when later events are appended.
-#}
{%- set timeout_minutes = var('session_timeout_minutes') | int -%}
{%- if timeout_minutes < 1 -%}
  {{ exceptions.raise_compiler_error("session_timeout_minutes must be a positive number of minutes, got " ~ var('session_timeout_minutes')) }}
{%- endif -%}

with

events as (

    select * from {{ ref('stg_events') }}

),

pages as (

    select page_code, page_path, is_unknown_page, taxonomy_node_id, top_taxonomy_node_id
    from {{ ref('int_page_taxonomy') }}

),

-- The two ordered passes below carry only the keys: DuckDB sorts every column a window
-- query carries, and the other columns are joined back once at the end (measured faster).
timeline as (

    select event_id, platform, anonymous_id, event_ts
    from events

),

with_previous as (

    select
        *,
        lag(event_ts) over visitor_timeline as previous_event_ts,
        lead(event_ts) over visitor_timeline as next_event_ts,
        row_number() over visitor_timeline as visitor_event_number

    from timeline
    window visitor_timeline as (partition by platform, anonymous_id order by event_ts, event_id)

),

with_boundaries as (

    select
        *,
        previous_event_ts is null
            or event_ts - previous_event_ts >= to_minutes({{ timeout_minutes }}) as is_session_start,
        next_event_ts is null
            or next_event_ts - event_ts >= to_minutes({{ timeout_minutes }}) as is_session_end

    from with_previous

),

with_sessions as (

    -- carry the session's first event (its id, its number, and the session id made from it)
    -- forward to every later event of the session
    select
        event_id,
        previous_event_ts,
        visitor_event_number,
        is_session_start,
        is_session_end,
        last_value(
            case when is_session_start then md5(platform || '|' || anonymous_id || '|' || event_id) end ignore nulls
        ) over visitor_timeline as session_id,
        last_value(case when is_session_start then event_id end ignore nulls) over visitor_timeline
            as session_first_event_id,
        last_value(case when is_session_start then visitor_event_number end ignore nulls) over visitor_timeline
            as session_first_event_number

    from with_boundaries
    window visitor_timeline as (
        partition by platform, anonymous_id order by event_ts, event_id
        rows between unbounded preceding and current row
    )

),

final as (

    select
        with_sessions.session_id,
        events.event_id,
        events.event_ts,
        events.platform,
        events.anonymous_id,
        events.customer_id,
        events.event_type,
        events.page_path,
        pages.page_code,
        events.search_query_redacted,
        events.dwell_ms,
        events.referrer,
        events.utm_source,
        events.device_type,
        events.product_id,
        pages.is_unknown_page,
        pages.taxonomy_node_id,
        pages.top_taxonomy_node_id,
        with_sessions.session_first_event_id,
        with_sessions.visitor_event_number - with_sessions.session_first_event_number + 1 as session_event_index,
        with_sessions.is_session_start,
        with_sessions.is_session_end,
        case
            when with_sessions.is_session_start then cast(0 as bigint)
            else date_diff('millisecond', with_sessions.previous_event_ts, events.event_ts)
        end as gap_ms

    from events
    inner join with_sessions on events.event_id = with_sessions.event_id
    left join pages on events.page_path = pages.page_path

)

select * from final
