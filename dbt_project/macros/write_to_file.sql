{#-
  Override of dbt-duckdb's write_to_file, for this project's marts when it is installed as a
  package. In this project itself the marts go through macros/materialization_external.sql,
  which never calls it; as a package dbt uses dbt-duckdb's `external` materialization (a package
  may not override a built-in materialization), which does, and a package's own macros come first
  for its own models (not for the host project's).

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
