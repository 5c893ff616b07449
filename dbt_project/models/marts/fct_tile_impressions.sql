{{ config(partition_by_day={'column': 'impression_ts', 'order_by': 'impression_id, position'}, rebuilt_from_scope='int_tile_impression_scope') }}
-- depends_on: {{ ref('int_tile_impression_scope') }}
-- One row per product tile shown on the app homepage, with whether it was clicked: the label
-- table of the tile ranker. A file per UTC day of impression_ts (macros/partitioned_marts.sql).
with

impressions as (

    select * from {{ ref('stg_tile_impressions') }}

),

final as (

    select
        impression_id,
        position,
        customer_id,
        product_id,
        impression_ts,
        clicked

    from impressions

)

select * from final
