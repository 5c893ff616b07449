{#-
  `as materialized (` for a CTE that must be computed once: DuckDB otherwise inlines a CTE
  into every reference. Spark has no such hint (and computes a CTE referenced once, once).
-#}
{% macro materialized_cte() -%}
  {{ return(adapter.dispatch('materialized_cte', 'clickintent')()) }}
{%- endmacro %}

{% macro default__materialized_cte() -%}
as materialized
{%- endmacro %}

{% macro spark__materialized_cte() -%}
as
{%- endmacro %}


{#- `relation.* exclude (a, b)`: every column but those (DuckDB's EXCLUDE, Spark's EXCEPT). -#}
{% macro star_except(relation, columns) -%}
  {{ return(adapter.dispatch('star_except', 'clickintent')(relation, columns)) }}
{%- endmacro %}

{% macro default__star_except(relation, columns) -%}
{{ relation }}.* exclude ({{ columns | join(', ') }})
{%- endmacro %}

{% macro spark__star_except(relation, columns) -%}
{{ relation }}.* except ({{ columns | join(', ') }})
{%- endmacro %}
