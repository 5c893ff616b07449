-- One row per session (web and app) that passed the bot/junk filter, with its events as arrays
-- in time order: the encoder's input.
--
-- Built for speed at 10M events: each event becomes a small struct of integers (its page and
-- event type as codes) plus its id and search text, a session's structs are collected in one
-- list and sorted by position, and the codes are turned back into text per array element
-- (pages, event types and taxonomy nodes come from small lookup lists). Measured in DuckDB
-- about 2x faster than one `list(... order by ...)` per array over the text columns.
with

sessions as (

    select session_id, platform, anonymous_id, customer_id, session_start_ts, session_end_ts, n_events
    from {{ ref('int_sessions') }}
    where session_class = 'kept'

),

pages as (

    select page_code, page_path, taxonomy_node_id, top_taxonomy_node_id
    from {{ ref('int_page_taxonomy') }}

),

lookups as (

    select
        -- page_code is 1..n, so these lists are indexed by it
        list(page_path order by page_code) as page_paths,
        list(taxonomy_node_id order by page_code) as taxonomy_node_ids,
        list(top_taxonomy_node_id order by page_code) as top_taxonomy_node_ids,
        cast({{ var('event_types') }} as varchar[]) as event_types

    from pages

),

events as (

    select
        events.session_id,
        events.session_event_index,
        events.event_id,
        events.page_code,
        cast(list_position(lookups.event_types, events.event_type) as tinyint) as event_type_code,
        coalesce(events.dwell_ms, 0) as dwell_ms,
        events.gap_ms,
        events.search_query_redacted

    from {{ ref('int_events_sessionized') }} as events
    cross join lookups
    where events.session_id in (select session_id from sessions)

),

sequences as (

    -- sorted by the struct's first field, the event's position (unique in the session)
    select
        session_id,
        list_sort(
            list(
                struct_pack(
                    session_event_index := session_event_index,
                    event_id := event_id,
                    page_code := page_code,
                    event_type_code := event_type_code,
                    dwell_ms := dwell_ms,
                    gap_ms := gap_ms,
                    search_query := search_query_redacted
                )
            )
        ) as session_events

    from events
    group by session_id

),

final as (

    select
        sessions.session_id,
        sessions.platform,
        sessions.anonymous_id,
        sessions.customer_id,
        sessions.session_start_ts,
        sessions.session_end_ts,
        sessions.n_events,
        list_transform(sequences.session_events, lambda event: event.event_id) as event_ids,
        list_transform(sequences.session_events, lambda event: lookups.page_paths[event.page_code]) as page_paths,
        list_transform(sequences.session_events, lambda event: lookups.event_types[event.event_type_code]) as event_types,
        list_transform(sequences.session_events, lambda event: lookups.taxonomy_node_ids[event.page_code])
            as taxonomy_node_ids,
        list_transform(sequences.session_events, lambda event: lookups.top_taxonomy_node_ids[event.page_code])
            as top_taxonomy_node_ids,
        list_transform(sequences.session_events, lambda event: event.dwell_ms) as dwell_ms,
        list_transform(sequences.session_events, lambda event: event.gap_ms) as gap_ms,
        list_transform(sequences.session_events, lambda event: event.search_query) as search_queries

    from sessions
    inner join sequences on sessions.session_id = sequences.session_id
    cross join lookups

)

select * from final
order by session_id
