{#-
  One row per customer per linked web session: as_of_ts is that session's end, and every
  feature aggregates the customer's linked web sessions that ended in the trailing window
  [as_of_ts - 30 days, as_of_ts], both ends included. Only sessions ended by as_of_ts count, so
  the row is point-in-time correct at as_of_ts. The 30 days are part of the features' names
  (n_events_30d ...), so the window is fixed here: another window is another set of features.
-#}
{%- set window_days = 30 -%}

with

links as (

    select web_session_id, customer_id
    from {{ ref('fct_web_login_links') }}

),

web_sessions as (

    select * from {{ ref('fct_web_sessions') }}

),

linked_sessions as (

    select
        links.customer_id,
        web_sessions.*  exclude (customer_id)

    from links
    inner join web_sessions on links.web_session_id = web_sessions.web_session_id

),

top_nodes as (

    select list(top_taxonomy_node_id order by top_node_position) as top_node_ids
    from {{ ref('dim_taxonomy_top_nodes') }}

),

windowed as (

    select
        customer_id,
        web_session_id,
        session_end_ts as as_of_ts,
        count(*) over last_30_days as n_linked_sessions,
        cast(sum(n_events) over last_30_days as bigint) as n_events,
        cast(sum(n_page_views) over last_30_days as bigint) as n_page_views,
        cast(sum(n_searches) over last_30_days as bigint) as n_searches,
        cast(sum(n_calculator_events) over last_30_days as bigint) as n_calculator_events,
        cast(sum(n_form_starts) over last_30_days as bigint) as n_form_starts,
        cast(sum(n_form_submits) over last_30_days as bigint) as n_form_submits,
        cast(sum(n_product_events) over last_30_days as bigint) as n_product_events,
        sum(total_dwell_s) over last_30_days as total_dwell_s,
        avg(duration_s) over last_30_days as mean_session_duration_s,
        max(depth) over last_30_days as max_session_depth,
        min(session_start_ts) over last_30_days as window_first_session_start_ts,
        -- events per top node, per session in the window (shares x events gives the counts back)
        list(list_transform(taxonomy_node_shares, lambda share: round(share * n_events))) over last_30_days
            as node_events_per_session

    from linked_sessions
    window last_30_days as (
        partition by customer_id
        order by session_end_ts
        range between interval {{ window_days }} days preceding and current row
    )

),

with_shares as (

    select
        *,
        list_transform(
            range(1, len(top_nodes.top_node_ids) + 1),
            lambda position: list_sum(list_transform(node_events_per_session, lambda counts: counts[position])) / n_events
        ) as node_shares

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
        date_diff('millisecond', window_first_session_start_ts, as_of_ts) / 86400000.0 as active_span_days_30d,
        top_node_ids[list_position(node_shares, list_max(node_shares))] as top_taxonomy_node_id_30d,
        cast(list_max(node_shares) as double) as top_taxonomy_node_share_30d,
        cast(node_shares as float[]) as taxonomy_node_shares_30d

    from with_shares

)

select * from final
order by customer_id, as_of_ts, web_session_id
