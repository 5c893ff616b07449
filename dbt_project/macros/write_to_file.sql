{#-
  Override of dbt-duckdb's write_to_file (used by the `external` materialization).

  dbt-duckdb writes a single all-NULL row into the Parquet file of a model that returned no
  rows (so that its view can infer types, filtering the row out again in the view). Feast and
  every other reader of the mart would see that row as data: an entity with a NULL key and a
  NULL timestamp. Every mart here has a NOT NULL key, so an all-NULL row is never real data;
  this version drops it and writes an empty file with the right schema instead.

  DuckDB's COPY writes to a temporary file and renames it over the target, so a failing COPY
  leaves the previous Parquet file intact.
-#}
{% macro write_to_file(relation, location, options) -%}
  {%- set columns = adapter.get_columns_in_relation(relation) -%}
  {% call statement('write_to_file') -%}
    copy (
      select * from {{ relation }}
      where not (
        {%- for column in columns %}
        {{ adapter.quote(column.column) }} is null{% if not loop.last %} and{% endif %}
        {%- endfor %}
      )
    ) to '{{ location }}' ({{ options }})
  {%- endcall %}
{%- endmacro %}
