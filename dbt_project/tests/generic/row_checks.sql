{#-
  Every row-level check of one model in a single query: columns that must not be null,
  columns whose values must be in a list, and row conditions that must hold.

  The same rules as dbt's `not_null` and `accepted_values` tests and this project's
  `expression_is_true` (NULL in an accepted_values column passes, as in dbt's; an expression
  that is NULL fails), written once per model instead of once per column: each of those tests
  is a dbt node that reads the whole table and pays dbt's fixed cost per node (about 0.1 s),
  and a 10M-event build ran about a hundred of them. Uniqueness and relationships keep dbt's
  own tests (they group or join; there is nothing to share).

  Fails with one row per failing row of the model: `failed_checks` lists the checks it broke
  (e.g. ['not_null(customer_id)', 'accepted_values(platform)']), then the row itself.

  new_events_only (stg_events): an incremental build checks only the events of the new raw files
  (macros/incremental.sql); the others passed this test in the build that first read them.

  Usage, on a model:
    data_tests:
      - row_checks:
          arguments:
            not_null: [session_id, customer_id]
            accepted_values: {platform: "{{ var('platforms') }}"}
            expressions: ["n_events >= 1"]
-#}
{% test row_checks(model, not_null=[], accepted_values={}, expressions=[], new_events_only=false) %}

{%- set checks = [] -%}
{%- for column in not_null -%}
  {%- do checks.append(("not_null(" ~ column ~ ")", adapter.quote(column) ~ " is null")) -%}
{%- endfor -%}
{%- for column, values in accepted_values.items() -%}
  {%- do checks.append((
      "accepted_values(" ~ column ~ ")",
      "coalesce(cast(" ~ adapter.quote(column) ~ " as " ~ string_type() ~ ") not in (" ~ quoted_list(values) ~ "), false)"
  )) -%}
{%- endfor -%}
{%- for expression in expressions -%}
  {%- do checks.append(("expression(" ~ expression ~ ")", "not coalesce((" ~ expression ~ "), false)")) -%}
{%- endfor -%}
{%- if not checks -%}
  {{ exceptions.raise_compiler_error("row_checks on " ~ model ~ " has nothing to check") }}
{%- endif -%}

with

checked as (

    {%- set failed_check_names = [] %}
    {%- for name, failure in checks %}
        {%- do failed_check_names.append("case when " ~ failure ~ " then " ~ sql_string(name) ~ " end") %}
    {%- endfor %}
    select
        {{ list_compact(list_of(failed_check_names)) }} as failed_checks,
        *

    from {{ staged_events(new_raw_events()) if new_events_only and incremental_build(beside=model) else model }}
    where
        {%- for name, failure in checks %}
        ({{ failure }}){% if not loop.last %} or{% endif %}
        {%- endfor %}

)

select * from checked

{% endtest %}
