{{ config(partition_by_day={'column': 'session_start_ts', 'order_by': 'web_session_id'}, rebuilt_from_scope='int_sessionization_scope') }}
-- depends_on: {{ ref('int_sessionization_scope') }}
-- One row per web session that passed the bot/junk filter. Every count comes from int_sessions'
-- single pass over the events; here the events per top-level node become shares. A file per UTC
-- day of session_start_ts, each in web_session_id order (macros/partitioned_marts.sql).
with

sessions as (

    select * from {{ ref('int_sessions') }}
    where platform = 'web' and session_class = 'kept'

),

top_nodes as (

    select {{ list_agg('top_taxonomy_node_id', order_by='top_node_position') }} as top_node_ids
    from {{ ref('dim_taxonomy_top_nodes') }}

),

final as (

    select
        sessions.session_id as web_session_id,
        sessions.anonymous_id,
        sessions.customer_id,
        sessions.session_start_ts,
        sessions.session_end_ts,
        sessions.n_events,
        sessions.n_page_views,
        sessions.n_clicks,
        sessions.n_searches,
        sessions.n_calculator_events,
        sessions.n_form_starts,
        sessions.n_form_submits,
        sessions.n_product_events,
        sessions.total_dwell_s,
        sessions.mean_dwell_s,
        sessions.median_dwell_s,
        sessions.max_dwell_s,
        sessions.n_distinct_pages as depth,
        sessions.duration_s,
        sessions.device_type,
        sessions.entry_page_path,
        sessions.entry_source,
        -- most events; ties go to the node listed first in dim_taxonomy_top_nodes
        {{ list_element('top_nodes.top_node_ids', list_position('sessions.top_node_events', list_max('sessions.top_node_events'))) }}
            as top_taxonomy_node_id,
        {{ list_max('sessions.top_node_events') }} / sessions.n_events as top_taxonomy_node_share,
        cast({{ list_transform('sessions.top_node_events', 'events', 'events / sessions.n_events') }} as {{ list_type('float') }})
            as taxonomy_node_shares,
        sessions.has_login,
        sessions.ends_in_login

    from sessions
    cross join top_nodes

)

select * from final
