with

source as (

    select * from {{ source_relation('raw', 'tile_impressions') }}

),

renamed as (

    select
        impression_id,
        cast(position as bigint) as position,
        customer_id,
        product_id,
        cast(impression_ts as {{ timestamp_tz_type() }}) as impression_ts,
        clicked

    from source

)

select * from renamed
