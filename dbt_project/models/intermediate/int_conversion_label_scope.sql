{#-
  The first observation from which an incremental build writes fct_conversion_labels' days again
  (macros/partitioned_marts.sql): one row, scope_start_us. A row looks 14 days
  (conversion_window_days) past its observation (a session's end or start) at its customer's
  conversions, and says whether the data reaches that far. So the rows from the earliest of these on:
    - the earliest sessionization scope start: a rebuilt session's observation is at or after it;
    - the first day whose conversions changed since the last build (int_input_days), less the window;
    - the earliest row the last build left with an incomplete window (its committed mart, read
      by name before this build replaces it), and every row whose window is incomplete now;
  and every row when the product catalogue changed. Empty in a full build.
-#}
{%- set window_us = (var('conversion_window_days') | int) * 86400 * 1000000 -%}
-- depends_on: {{ ref('int_sessionization_scope') }}, {{ ref('int_sessions') }}, {{ ref('stg_conversions') }}, {{ ref('stg_products') }}, {{ ref('int_input_days') }}
{% if incremental_build() -%}
{%- set built_labels = adapter.get_relation(this.database, this.schema, 'fct_conversion_labels') -%}

with

inputs as (

    {{ changed_input_days_scope(['conversions', 'products']) }}

),

bounds as (

    select
        (select min(scope_start_us) from {{ ref('int_sessionization_scope') }}) as sessionized_us,
        (select case when scope_start_us < 0 then scope_start_us else scope_start_us - {{ window_us }} end from inputs) as conversions_us,
        (select min({{ epoch_us('observation_ts') }}) from {{ built_labels }} where not label_window_complete) as incomplete_before_us,
        greatest(
            (select max({{ epoch_us('session_end_ts') }}) from {{ ref('int_sessions') }}),
            (
                select max({{ epoch_us('conversions.converted_ts') }})
                from {{ ref('stg_conversions') }} as conversions
                inner join {{ ref('stg_products') }} as products on conversions.product_id = products.product_id
            )
        ) - {{ window_us }} as incomplete_now_us

)

select least(sessionized_us, conversions_us, incomplete_before_us, incomplete_now_us) as scope_start_us
from bounds
{%- else %}

select cast(null as bigint) as scope_start_us
where false
{%- endif %}
