-- The whole-table inputs' days as this build read them (int_input_days), for the next
-- incremental build's scopes to compare with; built after the scopes that read the last ones.
-- depends_on: {{ ref('int_tile_impression_scope') }}, {{ ref('int_customer_profile_scope') }}, {{ ref('int_conversion_label_scope') }}
select * from {{ ref('int_input_days') }}
