-- Each UTC day of the inputs that arrive as whole tables (macros/input_days.sql): its rows and
-- an order-free hash of them; the product catalogue as one row.
{{ input_day_fingerprints('customers', ref('stg_customers'), 'snapshot_ts') }}
union all
{{ input_day_fingerprints('conversions', ref('stg_conversions'), 'converted_ts') }}
union all
{{ input_day_fingerprints('tile_impressions', ref('stg_tile_impressions'), 'impression_ts') }}
union all
{{ input_day_fingerprints('products', ref('stg_products')) }}
