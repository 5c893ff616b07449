{#-
  The first session end from which an incremental build builds fct_anonymous_session_outcomes'
  rows again (macros/incremental.sql): one row, scope_start_us. A row looks 14 days
  (conversion_window_days) past its session's end, at that visitor's forms and logins and at its
  customers' conversions, and says whether the data reaches that far. So the rows from the
  earliest of these on:
    - the earliest sessionization scope start, less the window: a scoped visitor's sessions
      changed from there, and its new forms and logins count for its sessions that ended up to
      the window before;
    - the earliest conversion added, removed or changed since the last build, less the window;
    - the earliest row the last build left with an incomplete window, and every row whose
      window is incomplete now (the data's end moved);
  and every row when a product's family changed, or a product came or went. Empty in a full
  build. The last build's rows and inputs are read by name (a ref would make a cycle).
-#}
{%- set window_us = (var('conversion_window_days') | int) * 86400 * 1000000 -%}
{%- set built_outcomes = adapter.get_relation(this.database, this.schema, 'int_anonymous_session_outcomes') if execute else none -%}
{%- set built_inputs = adapter.get_relation(this.database, this.schema, 'int_outcome_inputs_built') if execute else none -%}
-- depends_on: {{ ref('int_sessionization_scope') }}, {{ ref('int_sessions') }}, {{ ref('stg_products') }}, {{ ref('stg_conversions') }}
{% if incremental_build() -%}

with

inputs_now as (

    {{ outcome_inputs() }}

),

changed_inputs as (

    (select * from inputs_now except select * from {{ built_inputs }})
    union all
    (select * from {{ built_inputs }} except select * from inputs_now)

),

catalogue_changed as (

    select count(*) > 0 as changed
    from (
        (select product_id, product_family from inputs_now except select product_id, product_family from {{ built_inputs }})
        union all
        (select product_id, product_family from {{ built_inputs }} except select product_id, product_family from inputs_now)
    )

),

bounds as (

    select
        (select min(scope_start_us) from {{ ref('int_sessionization_scope') }}) - {{ window_us }} as sessionized_us,
        (select min({{ epoch_us('converted_ts') }}) from changed_inputs) - {{ window_us }} as conversions_us,
        (select min(session_end_us) from {{ built_outcomes }} where not label_window_complete) as incomplete_before_us,
        greatest(
            (select max({{ epoch_us('session_end_ts') }}) from {{ ref('int_sessions') }}),
            (select max({{ epoch_us('converted_ts') }}) from inputs_now)
        ) - {{ window_us }} as incomplete_now_us

)

select
    case
        when (select changed from catalogue_changed) then cast(-9223372036854775807 as bigint)
        else least(sessionized_us, conversions_us, incomplete_before_us, incomplete_now_us)
    end as scope_start_us

from bounds
{%- else %}

select cast(null as bigint) as scope_start_us
where false
{%- endif %}
