{#-
  One row per customer per kept app session end (as_of_ts): the customer's in-app intent over
  their kept app sessions (every device) that ended in [as_of_ts - 30 days, as_of_ts], both
  ends included. Nothing after as_of_ts counts, so the row is point-in-time correct. The app
  session's customer is the app's own sign-in, not a link from the web, so the mart is the same
  in the identity-free mode. Two sessions of one customer (two devices) ending at one instant
  give one row, named after the larger session id; the window holds both either way.
-#}
{%- set window_days = 30 -%}

with

app_sessions as (

    select * from {{ ref('int_sessions') }}
    where platform = 'app' and session_class = 'kept' and customer_id is not null

),

top_nodes as (

    select {{ list_agg('top_taxonomy_node_id', order_by='top_node_position') }} as top_node_ids
    from {{ ref('dim_taxonomy_top_nodes') }}

),

windowed as (

    select
        customer_id,
        session_id as app_session_id,
        session_end_ts as as_of_ts,
        count(*) over last_30_days as n_sessions,
        cast(sum(n_events) over last_30_days as bigint) as n_events,
        cast(sum(n_calculator_events) over last_30_days as bigint) as n_calculator_events,
        cast(sum(n_form_starts) over last_30_days as bigint) as n_form_starts,
        cast(sum(n_form_submits) over last_30_days as bigint) as n_form_submits,
        {{ list_agg('top_node_events') }} over last_30_days as node_events_per_session

    from app_sessions
    window last_30_days as (
        partition by customer_id
        order by session_end_ts
        range between interval {{ window_days }} days preceding and current row
    )
    qualify row_number() over (partition by customer_id, session_end_ts order by session_id desc) = 1

),

with_totals as (

    select *, {{ node_event_totals('node_events_per_session') }} as node_events
    from windowed

),

final as (

    select
        with_totals.customer_id,
        with_totals.as_of_ts,
        with_totals.app_session_id,
        with_totals.n_sessions as n_app_sessions_30d,
        with_totals.n_events as n_app_events_30d,
        with_totals.n_calculator_events as n_app_calculator_events_30d,
        with_totals.n_form_starts as n_app_form_starts_30d,
        with_totals.n_form_submits as n_app_form_submits_30d,
        {{ node_event_shares('with_totals.node_events') }} as app_taxonomy_node_shares_30d,
        {{ top_node_of('top_nodes.top_node_ids', 'with_totals.node_events') }} as app_top_taxonomy_node_id_30d

    from with_totals
    cross join top_nodes

)

select * from final
order by customer_id, as_of_ts
