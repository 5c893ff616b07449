{#-
  Create the directory the external marts are written to (the profile's external_root).

  DuckDB's COPY ... TO 'dir/file.parquet' fails when `dir` does not exist, and dbt's Jinja
  cannot touch the file system. A partitioned COPY of an empty result creates its target
  directory (one level) and, with OVERWRITE_OR_IGNORE, leaves files already there alone, so
  this empty COPY is a portable `mkdir -p` for the last path component. Run as on-run-start.
-#}
{% macro ensure_external_root() -%}
  {{ return(adapter.dispatch('ensure_external_root', 'clickintent')()) }}
{%- endmacro %}

{#- Spark's table writes create their directories. -#}
{% macro spark__ensure_external_root() -%}
{%- endmacro %}

{% macro default__ensure_external_root() -%}
  copy (select 1 as partition_key, 1 as unused where false)
  to '{{ adapter.external_root() }}'
  (format parquet, partition_by (partition_key), overwrite_or_ignore true)
{%- endmacro %}
