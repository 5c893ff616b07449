{#- Values as a SQL list of string literals, quotes doubled: 'a', 'b', 'c' (for `in (...)` and list literals). -#}
{% macro quoted_list(values) -%}
  {%- for value in values -%}
    '{{ value | string | replace("'", "''") }}'{% if not loop.last %}, {% endif %}
  {%- endfor -%}
{%- endmacro %}
