{#-
  Lower case, one character at a time (DuckDB's lower, and the Python twins' sql_lower). Spark's
  lower is Java's String.toLowerCase, which also applies the two context rules of Unicode's
  special casing that hold in every locale: 'İ' becomes 'i' plus a combining dot, and 'Σ' at the
  end of a word 'ς'. Mapping those two to their simple lower case first leaves nothing special.
-#}
{% macro lower_text(text) -%}
  {{ return(adapter.dispatch('lower_text', 'clickintent')(text)) }}
{%- endmacro %}

{% macro default__lower_text(text) -%}
lower({{ text }})
{%- endmacro %}

{% macro spark__lower_text(text) -%}
lower(translate({{ text }}, 'İΣ', 'iσ'))
{%- endmacro %}
