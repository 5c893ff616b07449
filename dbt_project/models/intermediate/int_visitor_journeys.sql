{#-
  fct_visitor_journeys with each row's keys (visitor_key, session_start_us of the session it is
  as of): the journey logic lives here, the mart is this table ordered, without the keys.

  Incremental on DuckDB (macros/incremental.sql): a row as of a session that started before the
  visitor's scope start only counts sessions that ended before it, which the build did not
  touch, so only the rows from the scope start are built again, over the visitor's kept
  sessions that ended at most the window before it (the frame of the earliest row rebuilt). The
  two facts older than that frame that a row carries come from the earlier sessions: the end of
  the last one (days_since_previous_session of the first row rebuilt) and whether any was
  signed in (has_logged_in_before counts all history).
-#}
{%- set window_days = 30 -%}
{%- set incremental = is_incremental() and incremental_build() -%}
{{ config(materialized=incremental_on_duckdb(), incremental_strategy='scope', pre_hook='{{ clear_unless_incremental_build() }}') }}
-- depends_on: {{ ref('int_sessionization_scope') }}

with

kept_sessions as (

    select
        {{ visitor_id('platform', 'anonymous_id') }} as visitor_id,
        visitor_key,
        session_start_us,
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

{% if incremental -%}
scoped_sessions as (

    select
        kept_sessions.*,
        scope.scope_start_us,
        {{ epoch_us('kept_sessions.session_end_ts') }} >= scope.scope_start_us - {{ window_days * 86400 * 1000000 }} as in_lookback

    from kept_sessions
    inner join {{ ref('int_sessionization_scope') }} as scope on kept_sessions.visitor_key = scope.visitor_key

),

sessions as (

    select * from scoped_sessions where in_lookback

),

earlier_sessions as (

    select visitor_key, max(session_end_ts) as last_session_end_ts, bool_or(is_signed_in) as any_signed_in
    from scoped_sessions
    where not in_lookback
    group by visitor_key

),
{%- else -%}
sessions as (

    select * from kept_sessions

),

earlier_sessions as (

    select visitor_key, session_end_ts as last_session_end_ts, is_signed_in as any_signed_in
    from kept_sessions
    where false

),
{%- endif %}

top_nodes as (

    select {{ list_agg('top_taxonomy_node_id', order_by='top_node_position') }} as top_node_ids
    from {{ ref('dim_taxonomy_top_nodes') }}

),

windowed as (

    select
        sessions.visitor_id,
        sessions.visitor_key,
        sessions.session_start_us,
        sessions.platform,
        sessions.session_id,
        sessions.session_end_ts as as_of_ts,
        count(*) over last_30_days as n_sessions,
        min(sessions.session_start_ts) over last_30_days as window_first_session_start_ts,
        cast({{ milliseconds_between('coalesce(lag(sessions.session_end_ts) over visitor_history, earlier_sessions.last_session_end_ts)', 'sessions.session_start_ts') }} as double) / 86400000
            as days_since_previous_session,
        cast(sum(sessions.n_events) over last_30_days as bigint) as n_events,
        cast(sum(sessions.n_searches) over last_30_days as bigint) as n_searches,
        cast(sum(sessions.n_calculator_events) over last_30_days as bigint) as n_calculator_events,
        cast(sum(sessions.n_form_starts) over last_30_days as bigint) as n_form_starts,
        cast(sum(sessions.n_form_submits) over last_30_days as bigint) as n_form_submits,
        cast(sum(sessions.n_product_events) over last_30_days as bigint) as n_product_events,
        {{ list_agg('sessions.top_node_events') }} over last_30_days as node_events_per_session,
        bool_or(sessions.is_signed_in) over visitor_history or coalesce(earlier_sessions.any_signed_in, false)
            as has_logged_in_before
        {%- if incremental %},
        sessions.scope_start_us
        {%- endif %}

    from sessions
    left join earlier_sessions on sessions.visitor_key = earlier_sessions.visitor_key
    window
        visitor_history as (partition by sessions.visitor_id order by sessions.session_end_ts),
        last_30_days as (
            partition by sessions.visitor_id
            order by sessions.session_end_ts
            range between interval {{ window_days }} days preceding and current row
        )

),

with_totals as (

    select *, {{ node_event_totals('node_events_per_session') }} as node_events
    from windowed
    {%- if incremental %}
    where session_start_us >= scope_start_us
    {%- endif %}

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
        with_totals.has_logged_in_before,
        with_totals.visitor_key,
        with_totals.session_start_us

    from with_totals
    cross join top_nodes

)

select * from final
