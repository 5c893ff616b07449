{#-
  Whether `text` contains a match of `pattern` (a SQL string literal), read as RE2 reads it.
  DuckDB's engine is RE2; Spark's is java.util.regex, where \b and \s also know non-ASCII
  letters and spaces (and \s the vertical tab) and $ also matches before a final newline. The
  Spark form rewrites those to RE2's meaning, as the generated redaction does
  (clickintent.privacy.redaction.java_regex); here by plain replacement, so a pattern passed to
  this macro uses \b, \s and $ outside brackets only, and no unescaped `.`.
-#}
{% macro regexp_matches(text, pattern) -%}
  {{ return(adapter.dispatch('regexp_matches', 'clickintent')(text, pattern)) }}
{%- endmacro %}

{% macro default__regexp_matches(text, pattern) -%}
regexp_matches({{ text }}, {{ pattern }})
{%- endmacro %}

{% macro spark__regexp_matches(text, pattern) -%}
  {%- set ascii_word = '[0-9A-Za-z_]' -%}
  {%- set java_pattern = pattern
      | replace('\\b', '(?:(?<=' ~ ascii_word ~ ')(?!' ~ ascii_word ~ ')|(?<!' ~ ascii_word ~ ')(?=' ~ ascii_word ~ '))')
      | replace('\\s', '[\\t\\n\\f\\r ]')
      | replace('$', '\\z') -%}
rlike({{ text }}, {{ java_pattern }})
{%- endmacro %}
