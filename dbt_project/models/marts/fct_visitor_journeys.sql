{#-
  One row per visitor (a cookie on the web, a device in the app: visitor_id, see
  macros/visitor_id.sql) per kept session end: the visitor's journey as of that end (as_of_ts),
  over its kept sessions that ended in [as_of_ts - 30 days, as_of_ts], both ends included.
  Sessions of one visitor never overlap, so as_of_ts is unique per visitor, and nothing after
  as_of_ts counts: the row is point-in-time correct.

  A journey is everything the cookie or device did, signed in or not: the visitor entity names
  no customer, so the mart is the same in the identity-free mode. has_logged_in_before says
  whether the visitor had signed in by as_of_ts (a login event, or a session carrying a
  customer, as every app session does), counting all its history, not only the 30 days: a
  ranker for anonymous visitors trains on the rows where it is false.
-#}
{%- set window_days = 30 -%}

with

sessions as (

    select
        {{ visitor_id('platform', 'anonymous_id') }} as visitor_id,
        platform,
        session_id,
        session_start_ts,
        session_end_ts,
        n_events,
        n_searches,
        n_calculator_events,
        n_form_starts,
        n_form_submits,
        n_product_events,
        top_node_events,
        has_login or customer_id is not null as is_signed_in

    from {{ ref('int_sessions') }}
    where session_class = 'kept'

),

top_nodes as (

    select {{ list_agg('top_taxonomy_node_id', order_by='top_node_position') }} as top_node_ids
    from {{ ref('dim_taxonomy_top_nodes') }}

),

windowed as (

    select
        visitor_id,
        platform,
        session_id,
        session_end_ts as as_of_ts,
        count(*) over last_30_days as n_sessions,
        min(session_start_ts) over last_30_days as window_first_session_start_ts,
        cast({{ milliseconds_between('lag(session_end_ts) over visitor_history', 'session_start_ts') }} as double) / 86400000
            as days_since_previous_session,
        cast(sum(n_events) over last_30_days as bigint) as n_events,
        cast(sum(n_searches) over last_30_days as bigint) as n_searches,
        cast(sum(n_calculator_events) over last_30_days as bigint) as n_calculator_events,
        cast(sum(n_form_starts) over last_30_days as bigint) as n_form_starts,
        cast(sum(n_form_submits) over last_30_days as bigint) as n_form_submits,
        cast(sum(n_product_events) over last_30_days as bigint) as n_product_events,
        {{ list_agg('top_node_events') }} over last_30_days as node_events_per_session,
        bool_or(is_signed_in) over visitor_history as has_logged_in_before

    from sessions
    window
        visitor_history as (partition by visitor_id order by session_end_ts),
        last_30_days as (
            partition by visitor_id
            order by session_end_ts
            range between interval {{ window_days }} days preceding and current row
        )

),

with_totals as (

    select *, {{ node_event_totals('node_events_per_session') }} as node_events
    from windowed

),

final as (

    select
        with_totals.visitor_id,
        with_totals.as_of_ts,
        with_totals.session_id,
        with_totals.platform,
        with_totals.n_sessions as n_sessions_30d,
        cast({{ milliseconds_between('with_totals.window_first_session_start_ts', 'with_totals.as_of_ts') }} as double) / 86400000
            as days_since_first_session_30d,
        with_totals.days_since_previous_session,
        with_totals.n_events as n_events_30d,
        with_totals.n_calculator_events as n_calculator_events_30d,
        with_totals.n_form_starts as n_form_starts_30d,
        with_totals.n_form_submits as n_form_submits_30d,
        with_totals.n_product_events as n_product_events_30d,
        with_totals.n_searches as n_searches_30d,
        {{ node_event_shares('with_totals.node_events') }} as taxonomy_node_shares_30d,
        {{ top_node_of('top_nodes.top_node_ids', 'with_totals.node_events') }} as top_taxonomy_node_id_30d,
        with_totals.has_logged_in_before

    from with_totals
    cross join top_nodes

)

select * from final
order by visitor_id, as_of_ts
