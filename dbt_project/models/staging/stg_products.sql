with

source as (

    select * from {{ source_relation('raw', 'products') }}

),

renamed as (

    select
        product_id,
        product_name,
        family as product_family,
        category as product_category,
        cast(launched_ts as {{ timestamp_tz_type() }}) as launched_ts,
        annual_fee_usd,
        interest_rate_pct,
        min_opening_usd,
        target_segment,
        cast(complexity as bigint) as complexity

    from source

)

select * from renamed
