{#-
  One row per session (web and app), bots and junk included, with the session aggregates and
  the filter decision every mart uses.

  Filter rule (session_class; the first that applies):
    bot_fast_dwell      at least bot_min_events (20) events and a median dwell under
                        bot_max_median_dwell_ms (1 s): nobody reads 20 pages in under a second each
    bot_burst           at least bot_burst_min_events (10) events at more than
                        bot_max_events_per_minute (30) per minute, the rate measured over
                        max(duration, 1 s)
    junk_unknown_pages  every event is on an unknown page (404 or error page): scanners,
                        broken links
    kept                everything else; only kept sessions reach the marts

  All of it comes from one pass over the events, joined to their session by event_key (see
  int_events_sessionized), so that the 10M-row event table is read and grouped once: the web
  marts' page depth and events per top-level taxonomy node are counted here too. Events are
  ordered by (event_ts, event_id): the first event is the smallest event_id at the session's
  first instant, the last the largest at its last.

  The web -> customer link is derived here and nowhere else: a web session's customer_id is the
  one its events carry (the contract sets it from a login on). Var identity_linking: 'login'
  (default) keeps it; 'off' (the identity-free mode) gives no web session a customer_id, so
  fct_web_login_links, fct_customer_web_intent and the web observations of
  fct_conversion_labels are empty and no web row of fct_web_sessions or fct_session_sequences
  names a customer. App sessions keep the customer the app authenticated: that is the app's
  own sign-in, not a link from the web. `--vars '{identity_linking: off}'` works unquoted
  too (YAML reads off as false).

  Incremental on DuckDB (macros/incremental.sql): a build aggregates again, per visitor in
  int_sessionization_scope, the sessions from the scope's start, reading only the raw events
  from that day on; the visitor's earlier sessions stay as built.
-#}
{%- set top_node_count = taxonomy_top_node_ids(ref('dim_taxonomy_top_nodes')) | length %}
{%- set identity_linking = var('identity_linking', 'login') %}
{%- if identity_linking is sameas false or (identity_linking is string and identity_linking | lower == 'off') %}
    {%- set link_web_sessions = false %}
{%- elif identity_linking is string and identity_linking | lower == 'login' %}
    {%- set link_web_sessions = true %}
{%- else %}
    {{ exceptions.raise_compiler_error("var identity_linking must be 'login' or 'off', got " ~ identity_linking) }}
{%- endif %}
{{ config(materialized=incremental_on_duckdb(), incremental_strategy='scope', pre_hook='{{ clear_unless_incremental_build() }}') }}
-- depends_on: {{ ref('int_sessionization_scope') }}

with

{{ session_model_events('events') }}

top_nodes as (

    select top_taxonomy_node_id, top_node_position from {{ ref('dim_taxonomy_top_nodes') }}

),

pages as (

    select pages.page_path, pages.page_code, pages.is_unknown_page, top_nodes.top_node_position
    from {{ ref('int_page_taxonomy') }} as pages
    left join top_nodes on pages.top_taxonomy_node_id = top_nodes.top_taxonomy_node_id

),

page_lookup as (

    -- each page's top-level node position, indexed by page_code (1..n, int_page_taxonomy)
    select {{ list_agg('top_node_position', order_by='page_code') }} as top_node_positions
    from pages

),

events_in_sessions as (

    select
        sessionized.visitor_key,
        sessionized.session_start_us,
        events.*,
        {{ epoch_us('events.event_ts') }} = sessionized.session_start_us as is_at_session_start,
        pages.page_code,
        pages.is_unknown_page

    from events
    inner join sessionized on {{ row_hash('events.event_id') }} = sessionized.event_key
    left join pages on events.page_path = pages.page_path

),

aggregated as (

    select
        visitor_key,
        session_start_us,
        -- the first event: the smallest event_id among the events at the session's first instant
        -- (a filtered aggregate, so only those events are compared)
        {{ arg_min(
            struct_pack({
                'event_id': 'event_id',
                'platform': 'platform',
                'anonymous_id': 'anonymous_id',
                'device_type': 'device_type',
                'page_path': 'page_path',
                'referrer': 'referrer',
                'utm_source': 'utm_source',
            }),
            'event_id'
        ) }} filter (where is_at_session_start) as first_event,
        {{ arg_max('event_type', struct_pack({'event_ts': 'event_ts', 'event_id': 'event_id'})) }} as last_event_type,
        -- false only if two visitors' events share a visitor_key hash (tested: never)
        min(anonymous_id) = max(anonymous_id) and min(platform) = max(platform) as is_single_visitor,
        -- the session's customer; should one session carry two (a shared device), the smaller
        -- id, so that reruns agree
        {%- if link_web_sessions %}
        min(customer_id) as customer_id,
        {%- else %}
        -- identity-free mode: only the app's own sign-in names a customer; a web session none
        min(customer_id) filter (where platform = 'app') as customer_id,
        {%- endif %}
        min(event_ts) as session_start_ts,
        max(event_ts) as session_end_ts,
        count(*) as n_events,
        count(*) filter (where event_type = 'page_view') as n_page_views,
        count(*) filter (where event_type = 'screen_view') as n_screen_views,
        count(*) filter (where event_type = 'click') as n_clicks,
        count(*) filter (where event_type = 'search') as n_searches,
        count(*) filter (where event_type = 'calculator') as n_calculator_events,
        count(*) filter (where event_type = 'form_start') as n_form_starts,
        count(*) filter (where event_type = 'form_submit') as n_form_submits,
        count(*) filter (where event_type = 'login') as n_logins,
        count(*) filter (where product_id is not null) as n_product_events,
        count(*) filter (where is_unknown_page) as n_unknown_page_events,
        cast(sum(dwell_ms) as double) / 1000 as total_dwell_s,
        avg(dwell_ms) / 1000 as mean_dwell_s,
        median(dwell_ms) / 1000 as median_dwell_s,
        cast(max(dwell_ms) as double) / 1000 as max_dwell_s,
        min(event_ts) filter (where event_type = 'login') as login_ts,
        -- the session's pages, one per event: distinct pages and events per top-level node are
        -- counted from this list below. list_unique rather than count(distinct): DuckDB plans
        -- the latter as a second grouping of all events by session and page, and joins it
        -- back. Counting nodes from the list rather than with one filtered count per node (26
        -- more aggregate states per session): 16.0 instead of 17.2 CPU seconds for this model
        -- at 10M events, same rows.
        {{ list_agg('page_code') }} as page_codes

    from events_in_sessions
    group by visitor_key, session_start_us

),

measured as (

    select
        {{ star_except('aggregated', ['page_codes', 'event_top_node_positions']) }},
        cast({{ list_distinct_count('page_codes') }} as bigint) as n_distinct_pages,
        -- events per top-level taxonomy node in dim_taxonomy_top_nodes order; app screens
        -- outside those nodes count nowhere
        cast(
            {{ list_transform(
                list_positions(top_node_count),
                'position',
                list_len(list_filter('event_top_node_positions', 'node', 'node = position'))
            ) }} as {{ list_type('bigint') }}
        ) as top_node_events,
        cast({{ milliseconds_between('session_start_ts', 'session_end_ts') }} as double) / 1000 as duration_s,
        n_events * 60 / greatest(cast({{ milliseconds_between('session_start_ts', 'session_end_ts') }} as double) / 1000, 1)
            as events_per_minute

    from (
        select aggregated.*, {{ list_select('page_lookup.top_node_positions', 'aggregated.page_codes') }} as event_top_node_positions
        from aggregated
        cross join page_lookup
    ) as aggregated

),

final as (

    select
        md5(first_event.platform || '|' || first_event.anonymous_id || '|' || first_event.event_id) as session_id,
        visitor_key,
        session_start_us,
        first_event.platform as platform,
        first_event.anonymous_id as anonymous_id,
        customer_id,
        session_start_ts,
        session_end_ts,
        n_events,
        n_page_views,
        n_screen_views,
        n_clicks,
        n_searches,
        n_calculator_events,
        n_form_starts,
        n_form_submits,
        n_logins,
        n_product_events,
        n_unknown_page_events,
        total_dwell_s,
        mean_dwell_s,
        median_dwell_s,
        max_dwell_s,
        duration_s,
        events_per_minute,
        n_distinct_pages,
        top_node_events,
        first_event.event_id as first_event_id,
        first_event.device_type as device_type,
        first_event.page_path as entry_page_path,
        first_event.referrer as entry_referrer,
        first_event.utm_source as entry_utm_source,
        {{ entry_source('first_event.referrer', 'first_event.utm_source') }} as entry_source,
        n_logins > 0 as has_login,
        login_ts,
        last_event_type = 'login' as ends_in_login,
        is_single_visitor,
        case
            when n_events >= {{ var('bot_min_events') }}
                and median_dwell_s * 1000 < {{ var('bot_max_median_dwell_ms') }} then 'bot_fast_dwell'
            when n_events >= {{ var('bot_burst_min_events') }}
                and events_per_minute > {{ var('bot_max_events_per_minute') }} then 'bot_burst'
            when n_unknown_page_events = n_events then 'junk_unknown_pages'
            else 'kept'
        end as session_class

    from measured

)

select * from final
