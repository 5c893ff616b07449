{#-
  Whether `text` contains a match of `pattern`. DuckDB's engine is RE2, Spark's java.util.regex:
  the project's patterns mean the same in both, except that Java's \b and \s also know
  non-ASCII letters and spaces (docs/spark.md).
-#}
{% macro regexp_matches(text, pattern) -%}
  {{ return(adapter.dispatch('regexp_matches', 'clickintent')(text, pattern)) }}
{%- endmacro %}

{% macro default__regexp_matches(text, pattern) -%}
regexp_matches({{ text }}, {{ pattern }})
{%- endmacro %}

{% macro spark__regexp_matches(text, pattern) -%}
rlike({{ text }}, {{ pattern }})
{%- endmacro %}
