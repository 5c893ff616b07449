{#- Microseconds since the Unix epoch of a timestamp (an integer sort and join key). -#}
{% macro epoch_us(timestamp) -%}
  {{ return(adapter.dispatch('epoch_us', 'clickintent')(timestamp)) }}
{%- endmacro %}

{% macro default__epoch_us(timestamp) -%}
epoch_us({{ timestamp }})
{%- endmacro %}

{% macro spark__epoch_us(timestamp) -%}
unix_micros({{ timestamp }})
{%- endmacro %}


{#- Whole milliseconds since the Unix epoch, rounded down (as DuckDB's epoch_us(...) // 1000). -#}
{% macro epoch_ms_floor(timestamp) -%}
  {{ return(adapter.dispatch('epoch_ms_floor', 'clickintent')(timestamp)) }}
{%- endmacro %}

{% macro default__epoch_ms_floor(timestamp) -%}
epoch_us({{ timestamp }}) // 1000
{%- endmacro %}

{#- unix_millis truncates, which is rounding down for every instant after 1970 -#}
{% macro spark__epoch_ms_floor(timestamp) -%}
unix_millis({{ timestamp }})
{%- endmacro %}


{#-
  Millisecond boundaries crossed from `start` to `end` (DuckDB's date_diff('millisecond', ...)).
  Spark's timestampdiff(MILLISECOND, ...) truncates the elapsed time instead, which differs by
  one when the two instants carry sub-millisecond parts; whole epoch milliseconds do not.
-#}
{% macro milliseconds_between(start, end) -%}
  {{ return(adapter.dispatch('milliseconds_between', 'clickintent')(start, end)) }}
{%- endmacro %}

{% macro default__milliseconds_between(start, end) -%}
date_diff('millisecond', {{ start }}, {{ end }})
{%- endmacro %}

{% macro spark__milliseconds_between(start, end) -%}
(unix_millis({{ end }}) - unix_millis({{ start }}))
{%- endmacro %}
