{#-
  fct_anonymous_session_outcomes with each row's session_end_us (session_end_ts in epoch
  microseconds): the outcome logic lives here, the mart is this table ordered, without it.

  Incremental on DuckDB (macros/incremental.sql): the rows of the sessions that ended from
  int_outcome_scope's instant on are built again, from the forms of the raw event partitions
  from that day on; the earlier rows stay as built (the incremental strategy `scope`, one scope
  for every row, from session_end_us).
-#}
{%- set window_days = var('conversion_window_days') | int -%}
{%- set incremental = is_incremental() and incremental_build() -%}
{%- set first_day = none -%}
{%- if incremental and execute -%}
  {#- the scope's first day; none when every row is built again (the catalogue changed) -#}
  {%- set first_day = run_query(
      "select case when scope_start_us > -9223372036854775807 then cast(make_timestamp(scope_start_us) as date) end from "
      ~ ref('int_outcome_scope')).columns[0].values()[0] -%}
{%- endif -%}
{{ config(
    materialized=incremental_on_duckdb(),
    incremental_strategy='scope',
    scope={'model': 'int_outcome_scope', 'from': 'session_end_us'},
    pre_hook='{{ clear_unless_incremental_build() }}'
) }}
-- depends_on: {{ ref('int_outcome_scope') }}

with

anonymous_sessions as (

    select
        session_id as web_session_id,
        anonymous_id,
        -- the visitor entity's key (fct_visitor_journeys)
        {{ visitor_id('platform', 'anonymous_id') }} as visitor_id,
        session_start_ts,
        session_end_ts,
        {{ epoch_us('session_end_ts') }} as session_end_us

    from {{ ref('int_sessions') }}
    where platform = 'web' and session_class = 'kept' and not has_login and customer_id is null
    {%- if incremental %}
        and {{ epoch_us('session_end_ts') }} >= (select scope_start_us from {{ ref('int_outcome_scope') }})
    {%- endif %}

),

products as (

    select product_id, product_family from {{ ref('stg_products') }}

),

families as (

    -- the catalogue's families (one row per session and family), never a list in code
    select distinct product_family from products

),

application_events as (

    select
        events.anonymous_id,
        events.event_id as outcome_id,
        events.event_ts as outcome_ts,
        events.event_type as outcome_kind,
        products.product_id,
        products.product_family

    from {{ staged_events(raw_events_since(first_day | string)) if first_day else ref('stg_events') }} as events
    inner join products on events.product_id = products.product_id
    -- the cookie's own forms: a web anonymous_id is not an app device's
    where events.platform = 'web' and events.event_type in ('form_start', 'form_submit')

),

conversions as (

    select
        conversions.customer_id,
        conversions.conversion_id as outcome_id,
        conversions.converted_ts as outcome_ts,
        'conversion' as outcome_kind,
        products.product_id,
        products.product_family

    from {{ ref('stg_conversions') }} as conversions
    inner join products on conversions.product_id = products.product_id

),

logins as (

    -- sessions with a login event only: a stitched link (if any) is derived from those logins
    select anonymous_id, customer_id, linked_at_ts
    from {{ ref('fct_web_login_links') }}
    where link_method = 'web_session_login'

),

later_logins as (

    -- the customers each anonymous session's visitor logs in as within the window
    select distinct
        sessions.web_session_id,
        links.customer_id

    from anonymous_sessions as sessions
    inner join logins as links
        on links.anonymous_id = sessions.anonymous_id
        and links.linked_at_ts > sessions.session_end_ts
        and links.linked_at_ts <= sessions.session_end_ts + interval {{ window_days }} days

),

outcomes as (

    select
        sessions.web_session_id,
        application_events.product_family,
        application_events.product_id,
        application_events.outcome_id,
        application_events.outcome_ts,
        application_events.outcome_kind

    from anonymous_sessions as sessions
    inner join application_events
        on application_events.anonymous_id = sessions.anonymous_id
        and application_events.outcome_ts > sessions.session_end_ts
        and application_events.outcome_ts <= sessions.session_end_ts + interval {{ window_days }} days

    union all

    select
        sessions.web_session_id,
        conversions.product_family,
        conversions.product_id,
        conversions.outcome_id,
        conversions.outcome_ts,
        conversions.outcome_kind

    from anonymous_sessions as sessions
    inner join later_logins on later_logins.web_session_id = sessions.web_session_id
    inner join conversions
        on conversions.customer_id = later_logins.customer_id
        and conversions.outcome_ts > sessions.session_end_ts
        and conversions.outcome_ts <= sessions.session_end_ts + interval {{ window_days }} days

),

per_family as (

    select
        web_session_id,
        product_family,
        count(*) filter (where outcome_kind = 'form_start') as n_form_starts_after,
        count(*) filter (where outcome_kind = 'form_submit') as n_form_submits_after,
        count(*) filter (where outcome_kind = 'conversion') as n_conversions_after,
        min(outcome_ts) as first_outcome_ts,
        {{ list_agg_distinct_sorted('product_id') }} as outcome_product_ids

    from outcomes
    group by web_session_id, product_family

),

earlier_logins as (

    select distinct sessions.web_session_id

    from anonymous_sessions as sessions
    inner join logins as links
        on links.anonymous_id = sessions.anonymous_id and links.linked_at_ts < sessions.session_start_ts

),

data_end as (

    select greatest(
        (select max(session_end_ts) from {{ ref('int_sessions') }}),
        (select max(outcome_ts) from conversions)
    ) as data_end_ts

),

final as (

    select
        sessions.web_session_id,
        sessions.web_session_id as session_id,
        sessions.anonymous_id,
        sessions.visitor_id,
        sessions.session_end_ts,
        families.product_family,
        per_family.web_session_id is not null as outcome,
        coalesce(per_family.n_form_starts_after, 0) as n_form_starts_after,
        coalesce(per_family.n_form_submits_after, 0) as n_form_submits_after,
        coalesce(per_family.n_conversions_after, 0) as n_conversions_after,
        per_family.first_outcome_ts,
        coalesce(per_family.outcome_product_ids, {{ empty_list('varchar') }}) as outcome_product_ids,
        earlier_logins.web_session_id is not null as visitor_logged_in_before,
        sessions.session_end_ts + interval {{ window_days }} days <= data_end.data_end_ts as label_window_complete,
        sessions.session_end_us

    from anonymous_sessions as sessions
    cross join families
    left join per_family
        on per_family.web_session_id = sessions.web_session_id
        and per_family.product_family = families.product_family
    left join earlier_logins on earlier_logins.web_session_id = sessions.web_session_id
    cross join data_end

)

select * from final
