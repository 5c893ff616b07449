{{ config(partition_by_day={'column': 'observation_ts', 'order_by': 'session_id'}, rebuilt_from_scope='int_conversion_label_scope') }}
{#-
  One row per observation point of a customer: the end of each linked web session (the moment
  web intent becomes known for the customer) and the start of each kept app session (when the
  app could act on it). The label is the product family of the customer's first conversion
  in (observation_ts, observation_ts + conversion_window_days (14) days] - strictly after the
  observation, the end day included - or 'none', plus the sorted list of every family opened in
  the window (the catalogue's families, read from stg_products: no list of families here).
  label_window_complete is false when the window runs past the end of the data: such a 'none'
  is not yet known to be a 'none'. A file per UTC day of observation_ts, each in session_id
  order (macros/partitioned_marts.sql).
-#}
{%- set window_days = var('conversion_window_days') | int %}
-- depends_on: {{ ref('int_conversion_label_scope') }}

with

web_observations as (

    select
        web_session_id as session_id,
        customer_id,
        session_end_ts as observation_ts,
        'web_session_end' as observation_point

    from {{ ref('fct_web_login_links') }}
    -- a stitched session ended before anyone knew whose it was: no observation point
    where link_method = 'web_session_login'

),

app_observations as (

    select
        session_id,
        customer_id,
        session_start_ts as observation_ts,
        'app_session_start' as observation_point

    from {{ ref('int_sessions') }}
    where platform = 'app' and session_class = 'kept' and customer_id is not null

),

observations as (

    select * from web_observations
    union all
    select * from app_observations

),

conversions as (

    select
        conversions.conversion_id,
        conversions.customer_id,
        conversions.product_id,
        conversions.converted_ts,
        products.product_family

    from {{ ref('stg_conversions') }} as conversions
    inner join {{ ref('stg_products') }} as products on conversions.product_id = products.product_id

),

data_end as (

    select greatest(
        (select max(session_end_ts) from {{ ref('int_sessions') }}),
        (select max(converted_ts) from conversions)
    ) as data_end_ts

),

conversions_in_window as (

    select
        observations.session_id,
        conversions.conversion_id,
        conversions.product_id,
        conversions.converted_ts,
        conversions.product_family

    from observations
    inner join conversions
        on conversions.customer_id = observations.customer_id
        and conversions.converted_ts > observations.observation_ts
        and conversions.converted_ts <= observations.observation_ts + interval {{ window_days }} days

),

per_observation as (

    select
        session_id,
        -- first by time; conversion_id breaks ties so that reruns agree
        {{ arg_min('product_family', struct_pack({'ts': 'converted_ts', 'id': 'conversion_id'})) }} as first_product_family,
        {{ arg_min('product_id', struct_pack({'ts': 'converted_ts', 'id': 'conversion_id'})) }} as first_product_id,
        min(converted_ts) as first_converted_ts,
        count(*) as n_conversions,
        {{ list_agg_distinct_sorted('product_family') }} as converted_product_families

    from conversions_in_window
    group by session_id

),

final as (

    select
        observations.session_id,
        observations.customer_id,
        observations.observation_ts,
        observations.observation_point,
        coalesce(per_observation.first_product_family, 'none') as label_product_family,
        coalesce(per_observation.n_conversions, 0) > 0 as converted_any,
        coalesce(per_observation.converted_product_families, {{ empty_list('varchar') }}) as converted_product_families,
        coalesce(per_observation.n_conversions, 0) as n_conversions,
        per_observation.first_product_id,
        per_observation.first_converted_ts,
        observations.observation_ts + interval {{ window_days }} days <= data_end.data_end_ts as label_window_complete

    from observations
    left join per_observation on observations.session_id = per_observation.session_id
    cross join data_end

)

select * from final
