with

source as (

    select * from {{ source_relation('raw', 'conversions') }}

),

renamed as (

    select
        conversion_id,
        customer_id,
        product_id,
        cast(converted_ts as {{ timestamp_tz_type() }}) as converted_ts,
        channel as conversion_channel

    from source

)

select * from renamed
