with

source as (

    select * from {{ source('raw', 'customers') }}

),

renamed as (

    select
        customer_id,
        cast(snapshot_ts as timestamptz) as snapshot_ts,
        segment as customer_segment,
        cast(tenure_months as bigint) as tenure_months,
        age_band,
        -- the contract's ';'-separated list as a real list; '' means no products
        case
            when held_product_ids is null or trim(held_product_ids) = '' then cast([] as varchar[])
            else list_filter(string_split(held_product_ids, ';'), lambda product_id: product_id <> '')
        end as held_product_ids,
        total_balance_usd

    from source

)

select * from renamed
