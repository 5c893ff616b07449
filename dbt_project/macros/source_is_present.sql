{#-
  True when an optional file-backed source exists, decided at run time.

  `source_relation` renders as a quoted path for file sources ('…/page_map.parquet') and as a
  table expression otherwise; a table expression is assumed present (its owner configured it).
  During parsing nothing is executed, and the answer does not matter, so it is false.
-#}
{% macro source_is_present(source_relation) -%}
  {{ return(adapter.dispatch('source_is_present', 'clickintent')(source_relation)) }}
{%- endmacro %}

{% macro default__source_is_present(source_relation) -%}
  {%- if not execute -%}
    {{ return(false) }}
  {%- endif -%}
  {%- set rendered = source_relation | string -%}
  {%- if not rendered.startswith("'") -%}
    {{ return(true) }}
  {%- endif -%}
  {%- set found = run_query("select count(*) from glob(" ~ rendered ~ ")") -%}
  {{ return(found.columns[0].values()[0] > 0) }}
{%- endmacro %}


{#-
  Spark SQL cannot list files, and reading a missing path fails the query: on Spark a file source
  is present when the var clickintent_page_map_present says so (`clickintent build --target
  spark` sets it from the file system; the page map is the one optional file source).
-#}
{% macro spark__source_is_present(source_relation) -%}
  {%- if not execute -%}
    {{ return(false) }}
  {%- endif -%}
  {%- if not (source_relation | string).startswith('parquet.`') -%}
    {{ return(true) }}
  {%- endif -%}
  {{ return(var('clickintent_page_map_present', false) in [true, 'true', 'True']) }}
{%- endmacro %}
