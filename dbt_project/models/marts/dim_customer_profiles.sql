{{ config(partition_by_day={'column': 'snapshot_ts', 'order_by': 'customer_id, snapshot_ts'}, rebuilt_from_scope='int_customer_profile_scope') }}
-- depends_on: {{ ref('int_customer_profile_scope') }}
-- One row per customer profile snapshot, with the product families held and the number of
-- conversions up to the snapshot (point in time: nothing after snapshot_ts). A file per UTC day
-- of snapshot_ts (macros/partitioned_marts.sql).
with

customers as (

    select * from {{ ref('stg_customers') }}

),

products as (

    select product_id, product_family from {{ ref('stg_products') }}

),

held_products as (

    select customer_id, snapshot_ts, {{ unnest_list('held_product_ids') }} as product_id
    from customers

),

held_families as (

    -- the families come from the catalogue (stg_products), never from a list here; a held
    -- product the catalogue lacks has no family
    select
        held_products.customer_id,
        held_products.snapshot_ts,
        {{ list_agg_distinct_sorted('products.product_family') }} as held_product_families

    from held_products
    inner join products on held_products.product_id = products.product_id
    group by held_products.customer_id, held_products.snapshot_ts

),

prior_conversions as (

    select
        customers.customer_id,
        customers.snapshot_ts,
        count(conversions.conversion_id) as n_conversions_before_snapshot

    from customers
    left join {{ ref('stg_conversions') }} as conversions
        on conversions.customer_id = customers.customer_id
        and conversions.converted_ts <= customers.snapshot_ts
    group by customers.customer_id, customers.snapshot_ts

),

final as (

    select
        customers.customer_id,
        customers.snapshot_ts,
        customers.customer_segment,
        customers.tenure_months,
        customers.age_band,
        customers.total_balance_usd,
        cast({{ list_len('customers.held_product_ids') }} as bigint) as n_held_products,
        customers.held_product_ids,
        coalesce(held_families.held_product_families, {{ empty_list('varchar') }}) as held_product_families,
        prior_conversions.n_conversions_before_snapshot

    from customers
    left join held_families
        on customers.customer_id = held_families.customer_id and customers.snapshot_ts = held_families.snapshot_ts
    left join prior_conversions
        on customers.customer_id = prior_conversions.customer_id and customers.snapshot_ts = prior_conversions.snapshot_ts

)

select * from final
