{#-
  The inputs that arrive as whole tables rather than as new event files: the customer
  snapshots, the tile impressions, the conversions and the product catalogue. Each build
  fingerprints them by UTC day (int_input_days: per day, its rows and an order-free hash of
  them); an incremental build compares that with the last build's (int_input_days_built), and a
  mart built from them writes the days from the first one that changed on
  (changed_input_days_scope(), macros/partitioned_marts.sql).
-#}

{#-
  One fingerprint row per UTC day of `timestamp_column` in `relation` (none: one row for the
  whole relation, whose change changes every day): input_name, day_start_us, n_rows, rows_hash.
  Every column of the relation is hashed, so a column added to it is watched too.
-#}
{% macro input_day_fingerprints(input_name, relation, timestamp_column=none) -%}
  {%- set columns = [] -%}
  {%- if execute -%}
    {%- for column in adapter.get_columns_in_relation(relation) -%}
      {%- do columns.append(adapter.quote(column.name)) -%}
    {%- endfor -%}
  {%- else -%}
    {%- do columns.append('1') -%}
  {%- endif -%}
    select
        '{{ input_name }}' as input_name,
        day_start_us,
        count(*) as n_rows,
        sum(row_hash) as rows_hash
    from (
        select
            {% if timestamp_column is none -%}
            cast(null as bigint)
            {%- else -%}
            cast(floor({{ epoch_us(timestamp_column) }} / 86400000000) as bigint) * 86400000000
            {%- endif %} as day_start_us,
            cast({{ row_hash(*columns) }} as decimal(38, 0)) as row_hash
        from {{ relation }}
    ) as input_rows
    group by day_start_us
{%- endmacro %}


{#-
  The scope of a mart built from whole-table inputs (`input_names`, as in int_input_days): one
  row, scope_start_us, the start of the first UTC day whose fingerprint changed since the last
  build in any of them (rows added, removed or changed), or the smallest bigint when an input
  without days changed (every row is built again); no row when nothing changed. Empty in a full
  build. The last build's fingerprints are read by name (a ref would make a cycle).
-#}
{% macro changed_input_days_scope(input_names) -%}
{%- set names = "'" ~ input_names | join("', '") ~ "'" -%}
-- depends_on: {{ ref('int_input_days') }}
{% if incremental_build() -%}
{%- set built = adapter.get_relation(this.database, this.schema, 'int_input_days_built') -%}
with

now_days as (

    select * from {{ ref('int_input_days') }}
    where input_name in ({{ names }})

),

built_days as (

    select * from {{ built }}
    where input_name in ({{ names }})

),

changed_days as (

    (select * from now_days except select * from built_days)
    union all
    (select * from built_days except select * from now_days)

)

select
    case
        when count(*) filter (where day_start_us is null) > 0 then cast(-9223372036854775807 as bigint)
        else min(day_start_us)
    end as scope_start_us

from changed_days
having count(*) > 0
{%- else -%}
select cast(null as bigint) as scope_start_us
where false
{%- endif -%}
{%- endmacro %}
