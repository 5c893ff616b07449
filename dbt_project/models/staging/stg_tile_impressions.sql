with

source as (

    select * from {{ source('raw', 'tile_impressions') }}

),

renamed as (

    select
        impression_id,
        cast(position as bigint) as position,
        customer_id,
        product_id,
        cast(impression_ts as timestamptz) as impression_ts,
        clicked

    from source

)

select * from renamed
