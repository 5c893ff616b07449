{#-
  fct_customer_app_intent with each row's as_of_us (as_of_ts in epoch microseconds): the
  customer's app intent logic lives here, the mart is this table ordered, without it.

  Incremental on DuckDB (macros/incremental.sql): per customer in int_customer_app_scope, the
  rows as of its scope start on are built again over the customer's kept app sessions that
  ended at most the window before it (the frame of the earliest row rebuilt); the customer's
  earlier rows counted no session that changed and stay as built (the incremental strategy
  `scope` by customer_id from as_of_us).
-#}
{%- set window_days = 30 -%}
{%- set incremental = is_incremental() and incremental_build() -%}
{{ config(
    materialized=incremental_on_duckdb(),
    incremental_strategy='scope',
    scope={'model': 'int_customer_app_scope', 'key': 'customer_id', 'from': 'as_of_us'},
    pre_hook='{{ clear_unless_incremental_build() }}'
) }}
-- depends_on: {{ ref('int_customer_app_scope') }}

with

app_sessions as (

    select sessions.*
    {%- if incremental %}, scope.scope_start_us{% endif %}

    from {{ ref('int_sessions') }} as sessions
    {%- if incremental %}
    inner join {{ ref('int_customer_app_scope') }} as scope
        on sessions.customer_id = scope.customer_id
        and {{ epoch_us('sessions.session_end_ts') }} >= scope.scope_start_us - {{ window_days * 86400 * 1000000 }}
    {%- endif %}
    where sessions.platform = 'app' and sessions.session_class = 'kept' and sessions.customer_id is not null

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
        {%- if incremental %},
        scope_start_us
        {%- endif %}

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
    {%- if incremental %}
    where {{ epoch_us('as_of_ts') }} >= scope_start_us
    {%- endif %}

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
        {{ top_node_of('top_nodes.top_node_ids', 'with_totals.node_events') }} as app_top_taxonomy_node_id_30d,
        {{ epoch_us('with_totals.as_of_ts') }} as as_of_us

    from with_totals
    cross join top_nodes

)

select * from final
