{#-
  A 64-bit hash of one or more columns, for integer join and grouping keys (int_events_sessionized).
  DuckDB's hash() is 64-bit; Spark's hash() is 32-bit murmur3 (collisions at a few 10k keys),
  so Spark uses xxhash64. Collisions are caught by tests either way (int_events_sessionized).
-#}
{% macro row_hash() -%}
  {{ return(adapter.dispatch('row_hash', 'clickintent')(varargs)) }}
{%- endmacro %}

{% macro default__row_hash(columns) -%}
hash({{ columns | join(', ') }})
{%- endmacro %}

{% macro spark__row_hash(columns) -%}
xxhash64({{ columns | join(', ') }})
{%- endmacro %}
