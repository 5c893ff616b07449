{#-
  One row per customer per moment a linked web session starts to count (fct_web_login_links.
  counts_from_ts: a login session's end, or the login time for the sessions stitched to it):
  as_of_ts is that moment, and every feature aggregates the customer's linked web sessions that
  count by as_of_ts and ended in the trailing window [as_of_ts - 30 days, as_of_ts], both ends
  included. Only sessions counted by as_of_ts take part, so the row is point-in-time correct at
  as_of_ts: a stitched session is absent before the login that linked it. The 30 days are part
  of the features' names (n_events_30d ...), so the window is fixed here: another window is
  another set of features.

  A file per UTC day of as_of_ts, each in (customer_id, as_of_ts, web_session_id) order
  (macros/partitioned_marts.sql). A row counts only links that count by its as_of_ts, and every
  link an incremental build changes counts from its visitor's sessionization scope's start on
  (fct_web_login_links), as does every session it builds again: so the rows before the scope's
  first day stay as built, and those from it on need only the links that count from that day or
  whose session ended at most the window before it.
-#}
{%- set window_days = 30 -%}
{%- set from_day = rebuilt_from_day(config.get('rebuilt_from_scope')) %}
{{ config(partition_by_day={'column': 'as_of_ts', 'order_by': 'customer_id, as_of_ts, web_session_id'}, rebuilt_from_scope='int_sessionization_scope') }}
-- depends_on: {{ ref('int_sessionization_scope') }}

with

links as (

    select web_session_id, customer_id, counts_from_ts
    from {{ ref('fct_web_login_links') }}
    {%- if from_day is not none %}
    where counts_from_ts >= {{ utc_day_start(from_day) }}
        or session_end_ts >= {{ utc_day_start(from_day) }} - interval {{ window_days }} days
    {%- endif %}

),

web_sessions as (

    select * from {{ ref('fct_web_sessions') }}

),

linked_sessions as (

    select
        links.customer_id,
        links.counts_from_ts,
        {{ star_except('web_sessions', ['customer_id']) }}

    from links
    inner join web_sessions on links.web_session_id = web_sessions.web_session_id

),

as_of_points as (

    -- sessions that start to count at one instant (those a login stitches) give one row, named
    -- after the latest-ending of them
    select
        customer_id,
        counts_from_ts as as_of_ts,
        {{ arg_max('web_session_id', struct_pack({'ts': 'session_end_ts', 'id': 'web_session_id'})) }} as web_session_id

    from linked_sessions
    {%- if from_day is not none %}
    where counts_from_ts >= {{ utc_day_start(from_day) }}
    {%- endif %}
    group by customer_id, counts_from_ts

),

top_nodes as (

    select {{ list_agg('top_taxonomy_node_id', order_by='top_node_position') }} as top_node_ids
    from {{ ref('dim_taxonomy_top_nodes') }}

),

windowed as (

    select
        points.customer_id,
        points.web_session_id,
        points.as_of_ts,
        count(*) as n_linked_sessions,
        cast(sum(sessions.n_events) as bigint) as n_events,
        cast(sum(sessions.n_page_views) as bigint) as n_page_views,
        cast(sum(sessions.n_searches) as bigint) as n_searches,
        cast(sum(sessions.n_calculator_events) as bigint) as n_calculator_events,
        cast(sum(sessions.n_form_starts) as bigint) as n_form_starts,
        cast(sum(sessions.n_form_submits) as bigint) as n_form_submits,
        cast(sum(sessions.n_product_events) as bigint) as n_product_events,
        -- summed as whole milliseconds (what both are made of): a sum of doubles depends on the
        -- order the threads meet the rows in, which a mart read by day does not fix
        cast(sum(cast(round(sessions.total_dwell_s * 1000) as bigint)) as double) / 1000 as total_dwell_s,
        cast(sum(cast(round(sessions.duration_s * 1000) as bigint)) as double) / 1000 / count(*) as mean_session_duration_s,
        max(sessions.depth) as max_session_depth,
        min(sessions.session_start_ts) as window_first_session_start_ts,
        -- events per top node, per session in the window (shares x events gives the counts back)
        {{ list_agg(list_transform('sessions.taxonomy_node_shares', 'share', 'round(share * sessions.n_events)')) }}
            as node_events_per_session

    from as_of_points as points
    inner join linked_sessions as sessions
        on sessions.customer_id = points.customer_id
        and sessions.counts_from_ts <= points.as_of_ts
        and sessions.session_end_ts >= points.as_of_ts - interval {{ window_days }} days
    group by points.customer_id, points.web_session_id, points.as_of_ts

),

with_shares as (

    select
        *,
        {{ list_transform(
            list_positions(list_len('top_nodes.top_node_ids')),
            'position',
            list_sum(list_transform('node_events_per_session', 'counts', list_element('counts', 'position'))) ~ ' / n_events'
        ) }} as node_shares

    from windowed
    cross join top_nodes

),

final as (

    select
        customer_id,
        web_session_id,
        as_of_ts,
        n_linked_sessions as n_linked_sessions_30d,
        n_events as n_events_30d,
        n_page_views as n_page_views_30d,
        n_searches as n_searches_30d,
        n_calculator_events as n_calculator_events_30d,
        n_form_starts as n_form_starts_30d,
        n_form_submits as n_form_submits_30d,
        n_product_events as n_product_events_30d,
        total_dwell_s as total_dwell_s_30d,
        mean_session_duration_s as mean_session_duration_s_30d,
        max_session_depth as max_session_depth_30d,
        cast({{ milliseconds_between('window_first_session_start_ts', 'as_of_ts') }} as double) / 86400000 as active_span_days_30d,
        {{ list_element('top_node_ids', list_position('node_shares', list_max('node_shares'))) }} as top_taxonomy_node_id_30d,
        cast({{ list_max('node_shares') }} as double) as top_taxonomy_node_share_30d,
        cast(node_shares as {{ list_type('float') }}) as taxonomy_node_shares_30d

    from with_shares

)

select * from final
