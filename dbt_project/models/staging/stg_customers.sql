with

source as (

    select * from {{ source_relation('raw', 'customers') }}

),

renamed as (

    select
        customer_id,
        cast(snapshot_ts as {{ timestamp_tz_type() }}) as snapshot_ts,
        segment as customer_segment,
        cast(tenure_months as bigint) as tenure_months,
        age_band,
        -- the contract's ';'-separated list as a real list; '' means no products
        case
            when held_product_ids is null or trim(held_product_ids) = '' then {{ empty_list('varchar') }}
            else {{ list_filter(split_text('held_product_ids', "';'"), 'product_id', "product_id <> ''") }}
        end as held_product_ids,
        total_balance_usd

    from source

)

select * from renamed
