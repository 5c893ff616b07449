{{ config(partition_by_day={'column': 'session_start_ts', 'order_by': 'session_id'}, rebuilt_from_scope='int_sessionization_scope') }}
-- depends_on: {{ ref('int_sessionization_scope') }}
-- One row per session (web and app) that passed the bot/junk filter, with its events as arrays
-- in (event_ts, event_id) order: the encoder's input. A file per UTC day of session_start_ts,
-- each in session_id order (config partition_by_day, macros/partitioned_marts.sql); an
-- incremental build makes the arrays of the sessions from the first day it rebuilds only,
-- from the events of those sessions.
--
-- Built for speed at 10M events (each step measured in DuckDB against the alternatives):
--   - each event becomes one small struct: its time and id first, so that sorting a
--     session's structs puts them in (event_ts, event_id) order, then its page and event
--     type as integer codes; one list per session, sorted once (one `list(... order by ...)`
--     per array over the text columns was several times slower);
--   - only then are the codes turned back into text, with list_select over small lookup
--     lists (a gather, not a lambda per element).
{%- set from_day = rebuilt_from_day(config.get('rebuilt_from_scope')) %}

with

{{ session_events_from_day('raw_events', from_day) }}

sessions as (

    select
        sessions.visitor_key, sessions.session_start_us, sessions.session_id, sessions.platform, sessions.anonymous_id,
        sessions.customer_id, sessions.session_start_ts, sessions.session_end_ts, sessions.n_events
    from {{ ref('int_sessions') }} as sessions
    where sessions.session_class = 'kept'
    {%- if from_day is not none %}
        and sessions.session_start_us >= {{ epoch_us(utc_day_start(from_day)) }}
    {%- endif %}

),

pages as (

    select page_code, page_path, taxonomy_node_id, top_taxonomy_node_id
    from {{ ref('int_page_taxonomy') }}

),

lookups as (

    select
        -- page_code is 1..n, so these lists are indexed by it
        {{ list_agg('page_path', order_by='page_code') }} as page_paths,
        {{ list_agg('taxonomy_node_id', order_by='page_code') }} as taxonomy_node_ids,
        {{ list_agg('top_taxonomy_node_id', order_by='page_code') }} as top_taxonomy_node_ids,
        {{ string_list(var('event_types')) }} as event_types

    from pages

),

events as (

    select
        sessionized.visitor_key,
        sessionized.session_start_us,
        events.event_ts,
        events.event_id,
        pages.page_code,
        -- (the list literal, not lookups.event_types: a cross join would carry the lookup
        -- lists on every one of the 10M rows)
        cast({{ list_position(string_list(var('event_types')), 'events.event_type') }} as tinyint) as event_type_code,
        coalesce(events.dwell_ms, 0) as dwell_ms,
        events.search_query_redacted

    -- every session's events, kept or not: the inner join with the kept sessions below drops
    -- the rest after grouping. Filtering the 10M events first (a semi join on two keys) cost
    -- more than grouping the ~8% of events in bot and junk sessions with the others (with the
    -- literal above: 21 instead of 24 CPU seconds for this model at 10M events).
    from raw_events as events
    inner join sessionized on {{ row_hash('events.event_id') }} = sessionized.event_key
    left join pages on events.page_path = pages.page_path

),

sequences as (

    select
        visitor_key,
        session_start_us,
        {{ list_sort(list_agg(struct_pack({
            'event_ts': 'event_ts',
            'event_id': 'event_id',
            'page_code': 'page_code',
            'event_type_code': 'event_type_code',
            'dwell_ms': 'dwell_ms',
            'search_query': 'search_query_redacted',
        }))) }} as session_events

    from events
    group by visitor_key, session_start_us

),

ordered as (

    select
        sessions.*,
        sequences.session_events

    from sessions
    inner join sequences
        on sessions.visitor_key = sequences.visitor_key and sessions.session_start_us = sequences.session_start_us

),

with_codes as (

    select
        *,
        {{ list_transform('session_events', 'event', 'event.page_code') }} as page_codes,
        {{ list_transform('session_events', 'event', epoch_ms_floor('event.event_ts')) }} as event_ms

    from ordered

),

final as (

    select
        ordered.session_id,
        ordered.platform,
        ordered.anonymous_id,
        ordered.customer_id,
        ordered.session_start_ts,
        ordered.session_end_ts,
        ordered.n_events,
        {{ list_transform('ordered.session_events', 'event', 'event.event_id') }} as event_ids,
        {{ list_select('lookups.page_paths', 'ordered.page_codes') }} as page_paths,
        {{ list_select(
            'lookups.event_types', list_transform('ordered.session_events', 'event', 'event.event_type_code')
        ) }} as event_types,
        {{ list_select('lookups.taxonomy_node_ids', 'ordered.page_codes') }} as taxonomy_node_ids,
        {{ list_select('lookups.top_taxonomy_node_ids', 'ordered.page_codes') }} as top_taxonomy_node_ids,
        {{ list_transform('ordered.session_events', 'event', 'event.dwell_ms') }} as dwell_ms,
        -- milliseconds since the previous event, 0 for the first: each event's whole epoch
        -- milliseconds minus the previous one's (the millisecond boundaries crossed, as
        -- date_diff('millisecond', ...) counts them; epoch_ms() would round)
        {{ list_differences(
            'ordered.event_ms',
            list_prepend(list_element('ordered.event_ms', 1), list_drop_last('ordered.event_ms'))
        ) }} as gap_ms,
        {{ list_transform('ordered.session_events', 'event', 'event.search_query') }} as search_queries

    from with_codes as ordered
    cross join lookups

)

select * from final
