{#-
  The relation a file-backed source is read from. dbt-duckdb reads a source's
  meta.external_location itself (models/staging/_sources.yml); dbt-spark knows nothing of it, so
  on Spark a path becomes parquet.`<path>` (a glob works too), and a value with a parenthesis
  is used as a table expression, as on DuckDB.
-#}
{% macro source_relation(source_name, table_name) -%}
  {{ return(adapter.dispatch('source_relation', 'clickintent')(source_name, table_name)) }}
{%- endmacro %}

{% macro default__source_relation(source_name, table_name) -%}
  {{ return(source(source_name, table_name)) }}
{%- endmacro %}

{% macro spark__source_relation(source_name, table_name) -%}
  {%- set relation = source(source_name, table_name) -%}
  {%- if not execute -%}
    {{ return(relation) }}
  {%- endif -%}
  {%- set location = source_external_location(source_name, table_name) -%}
  {%- if location is none -%}
    {{ return(relation) }}
  {%- elif '(' in location -%}
    {{ return(location) }}
  {%- endif -%}
  {{ return('parquet.`' ~ location ~ '`') }}
{%- endmacro %}


{#- A source's meta.external_location with `{name}` filled in; none when it has none. -#}
{% macro source_external_location(source_name, table_name) -%}
  {%- for node in graph.sources.values() -%}
    {%- if node.source_name == source_name and node.name == table_name -%}
      {%- set location = node.config.get('meta', {}).get('external_location') or node.meta.get('external_location') -%}
      {{ return(location.replace('{name}', node.identifier) if location else none) }}
    {%- endif -%}
  {%- endfor -%}
  {{ return(none) }}
{%- endmacro %}
