-- One row per product tile shown on the app homepage, with whether it was clicked: the label
-- table of the tile ranker.
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
order by impression_id, position
