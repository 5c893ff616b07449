{#- A struct literal from {field: expression} (in that field order). -#}
{% macro struct_pack(fields) -%}
  {{ return(adapter.dispatch('struct_pack', 'clickintent')(fields)) }}
{%- endmacro %}

{% macro default__struct_pack(fields) -%}
struct_pack({% for name, expression in fields.items() %}{{ name }} := {{ expression }}{% if not loop.last %}, {% endif %}{% endfor %})
{%- endmacro %}

{% macro spark__struct_pack(fields) -%}
named_struct({% for name, expression in fields.items() %}'{{ name }}', {{ expression }}{% if not loop.last %}, {% endif %}{% endfor %})
{%- endmacro %}


{#- The `value` of the row with the smallest (arg_min) or largest (arg_max) `ordering`. -#}
{% macro arg_min(value, ordering) -%}
  {{ return(adapter.dispatch('arg_min', 'clickintent')(value, ordering)) }}
{%- endmacro %}

{% macro default__arg_min(value, ordering) -%}
arg_min({{ value }}, {{ ordering }})
{%- endmacro %}

{% macro spark__arg_min(value, ordering) -%}
min_by({{ value }}, {{ ordering }})
{%- endmacro %}

{% macro arg_max(value, ordering) -%}
  {{ return(adapter.dispatch('arg_max', 'clickintent')(value, ordering)) }}
{%- endmacro %}

{% macro default__arg_max(value, ordering) -%}
arg_max({{ value }}, {{ ordering }})
{%- endmacro %}

{% macro spark__arg_max(value, ordering) -%}
max_by({{ value }}, {{ ordering }})
{%- endmacro %}
