{#-
  What fct_anonymous_session_outcomes reads besides the sessions and events: every product with
  its family and its conversions (none: one row with null conversion columns). The last build's
  copy (int_outcome_inputs_built) against this one tells an incremental build which outcomes the
  new or changed conversions and families reopen (int_outcome_scope).
-#}
{% macro outcome_inputs() -%}
    select
        products.product_id,
        products.product_family,
        conversions.conversion_id,
        conversions.customer_id,
        conversions.converted_ts

    from {{ ref('stg_products') }} as products
    left join {{ ref('stg_conversions') }} as conversions on conversions.product_id = products.product_id
{%- endmacro %}
