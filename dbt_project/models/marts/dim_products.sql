-- One row per catalog product with its attributes.
with

products as (

    select * from {{ ref('stg_products') }}

),

final as (

    select
        product_id,
        product_name,
        product_family,
        product_category,
        launched_ts,
        annual_fee_usd,
        interest_rate_pct,
        min_opening_usd,
        target_segment,
        complexity

    from products

)

select * from final
order by product_id
