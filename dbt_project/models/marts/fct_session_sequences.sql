-- One row per session (web and app) that passed the bot/junk filter, with its events as arrays
-- in (event_ts, event_id) order: the encoder's input.
--
-- Built for speed at 10M events (each step measured in DuckDB against the alternatives):
--   - each event becomes one small struct: its time and id first, so that sorting a
--     session's structs puts them in (event_ts, event_id) order, then its page and event
--     type as integer codes; one list per session, sorted once (one `list(... order by ...)`
--     per array over the text columns was several times slower);
--   - the rows are sorted by session_id while they still carry the compact structs;
--   - only then are the codes turned back into text, with list_select over small lookup
--     lists (a gather, not a lambda per element).
with

sessions as (

    select visitor_key, session_start_us, session_id, platform, anonymous_id, customer_id, session_start_ts, session_end_ts, n_events
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
        sessionized.visitor_key,
        sessionized.session_start_us,
        events.event_ts,
        events.event_id,
        sessionized.page_code,
        -- (the list literal, not lookups.event_types: a cross join would carry the lookup
        -- lists on every one of the 10M rows)
        cast(list_position(cast({{ var('event_types') }} as varchar[]), events.event_type) as tinyint) as event_type_code,
        coalesce(events.dwell_ms, 0) as dwell_ms,
        events.search_query_redacted

    -- every session's events, kept or not: the inner join with the kept sessions below drops
    -- the rest after grouping. Filtering the 10M events first (a semi join on two keys) cost
    -- more than grouping the ~8% of events in bot and junk sessions with the others (with the
    -- literal above: 21 instead of 24 CPU seconds for this model at 10M events).
    from {{ ref('stg_events') }} as events
    inner join {{ ref('int_events_sessionized') }} as sessionized on hash(events.event_id) = sessionized.event_key

),

sequences as (

    select
        visitor_key,
        session_start_us,
        list_sort(
            list(
                struct_pack(
                    event_ts := event_ts,
                    event_id := event_id,
                    page_code := page_code,
                    event_type_code := event_type_code,
                    dwell_ms := dwell_ms,
                    search_query := search_query_redacted
                )
            )
        ) as session_events

    from events
    group by visitor_key, session_start_us

),

ordered as (

    -- sorted while each row carries one list and no join keys: a sort moves every column it
    -- carries, so the lists derived from session_events are made after it (with_codes). The
    -- order holds through the projections below and the COPY.
    select
        sessions.* exclude (visitor_key, session_start_us),
        sequences.session_events

    from sessions
    inner join sequences
        on sessions.visitor_key = sequences.visitor_key and sessions.session_start_us = sequences.session_start_us
    order by sessions.session_id

),

with_codes as (

    select
        *,
        list_transform(session_events, lambda event: event.page_code) as page_codes,
        list_transform(session_events, lambda event: epoch_us(event.event_ts) // 1000) as event_ms

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
        list_transform(ordered.session_events, lambda event: event.event_id) as event_ids,
        list_select(lookups.page_paths, ordered.page_codes) as page_paths,
        list_select(
            lookups.event_types, list_transform(ordered.session_events, lambda event: event.event_type_code)
        ) as event_types,
        list_select(lookups.taxonomy_node_ids, ordered.page_codes) as taxonomy_node_ids,
        list_select(lookups.top_taxonomy_node_ids, ordered.page_codes) as top_taxonomy_node_ids,
        list_transform(ordered.session_events, lambda event: event.dwell_ms) as dwell_ms,
        -- milliseconds since the previous event, 0 for the first: each event's whole epoch
        -- milliseconds minus the previous one's (the millisecond boundaries crossed, as
        -- date_diff('millisecond', ...) counts them; epoch_ms() would round)
        list_transform(
            list_zip(ordered.event_ms, list_prepend(ordered.event_ms[1], ordered.event_ms[:-2])),
            lambda pair: pair[1] - pair[2]
        ) as gap_ms,
        list_transform(ordered.session_events, lambda event: event.search_query) as search_queries

    from with_codes as ordered
    cross join lookups

)

select * from final
