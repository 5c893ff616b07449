{#-
  Lists (DuckDB) / arrays (Spark). Positions are 1-based in both. Lambdas are written
  (list, 'variable', 'expression over variable'); DuckDB's is `lambda variable: expression`,
  Spark's `variable -> expression`.
-#}

{#-
  The aggregate list of `value` (also as a window function), in `order_by` order when given.
  Spark's collect_list skips nulls and keeps no order, so an ordered list collects
  (order_by, value) structs, sorts them and keeps the values (nulls included); an unordered one
  is used only where null elements count for nothing.
-#}
{% macro list_agg(value, order_by=none) -%}
  {{ return(adapter.dispatch('list_agg', 'clickintent')(value, order_by)) }}
{%- endmacro %}

{% macro default__list_agg(value, order_by) -%}
list({{ value }}{% if order_by is not none %} order by {{ order_by }}{% endif %})
{%- endmacro %}

{% macro spark__list_agg(value, order_by) -%}
{%- if order_by is none -%}
collect_list({{ value }})
{%- else -%}
transform(array_sort(collect_list(named_struct('sort_key', {{ order_by }}, 'value', {{ value }}))), entry -> entry.value)
{%- endif -%}
{%- endmacro %}


{#- The sorted distinct non-null values of `value` (an aggregate). -#}
{% macro list_agg_distinct_sorted(value) -%}
  {{ return(adapter.dispatch('list_agg_distinct_sorted', 'clickintent')(value)) }}
{%- endmacro %}

{#- not list(distinct ... order by ...): DuckDB's ordered aggregate took 5x as long (dim_customer_profiles) -#}
{% macro default__list_agg_distinct_sorted(value) -%}
list_sort(list_distinct(list({{ value }})))
{%- endmacro %}

{% macro spark__list_agg_distinct_sorted(value) -%}
array_sort(collect_set({{ value }}))
{%- endmacro %}


{% macro list_transform(list, variable, expression) -%}
  {{ return(adapter.dispatch('list_transform', 'clickintent')(list, variable, expression)) }}
{%- endmacro %}

{% macro default__list_transform(list, variable, expression) -%}
list_transform({{ list }}, lambda {{ variable }}: {{ expression }})
{%- endmacro %}

{% macro spark__list_transform(list, variable, expression) -%}
transform({{ list }}, {{ variable }} -> {{ expression }})
{%- endmacro %}


{% macro list_filter(list, variable, condition) -%}
  {{ return(adapter.dispatch('list_filter', 'clickintent')(list, variable, condition)) }}
{%- endmacro %}

{% macro default__list_filter(list, variable, condition) -%}
list_filter({{ list }}, lambda {{ variable }}: {{ condition }})
{%- endmacro %}

{% macro spark__list_filter(list, variable, condition) -%}
filter({{ list }}, {{ variable }} -> {{ condition }})
{%- endmacro %}


{% macro list_len(list) -%}
  {{ return(adapter.dispatch('list_len', 'clickintent')(list)) }}
{%- endmacro %}

{% macro default__list_len(list) -%}
len({{ list }})
{%- endmacro %}

{% macro spark__list_len(list) -%}
size({{ list }})
{%- endmacro %}


{#- The element at a 1-based position. -#}
{% macro list_element(list, position) -%}
  {{ return(adapter.dispatch('list_element', 'clickintent')(list, position)) }}
{%- endmacro %}

{% macro default__list_element(list, position) -%}
{{ list }}[{{ position }}]
{%- endmacro %}

{% macro spark__list_element(list, position) -%}
element_at({{ list }}, cast({{ position }} as int))
{%- endmacro %}


{#- The 1-based position of the first element equal to `value`. -#}
{% macro list_position(list, value) -%}
  {{ return(adapter.dispatch('list_position', 'clickintent')(list, value)) }}
{%- endmacro %}

{% macro default__list_position(list, value) -%}
list_position({{ list }}, {{ value }})
{%- endmacro %}

{% macro spark__list_position(list, value) -%}
array_position({{ list }}, {{ value }})
{%- endmacro %}


{% macro list_max(list) -%}
  {{ return(adapter.dispatch('list_max', 'clickintent')(list)) }}
{%- endmacro %}

{% macro default__list_max(list) -%}
list_max({{ list }})
{%- endmacro %}

{% macro spark__list_max(list) -%}
array_max({{ list }})
{%- endmacro %}


{#- The sum of a numeric list (Spark: as a double, exact for counts below 2^53). -#}
{% macro list_sum(list) -%}
  {{ return(adapter.dispatch('list_sum', 'clickintent')(list)) }}
{%- endmacro %}

{% macro default__list_sum(list) -%}
list_sum({{ list }})
{%- endmacro %}

{% macro spark__list_sum(list) -%}
aggregate({{ list }}, 0D, (total, element) -> total + element)
{%- endmacro %}


{#- The number of distinct non-null elements. -#}
{% macro list_distinct_count(list) -%}
  {{ return(adapter.dispatch('list_distinct_count', 'clickintent')(list)) }}
{%- endmacro %}

{% macro default__list_distinct_count(list) -%}
list_unique({{ list }})
{%- endmacro %}

{% macro spark__list_distinct_count(list) -%}
size(array_compact(array_distinct({{ list }})))
{%- endmacro %}


{#- values[i] for each i of `positions` (a gather; null where i is null). -#}
{% macro list_select(values, positions) -%}
  {{ return(adapter.dispatch('list_select', 'clickintent')(values, positions)) }}
{%- endmacro %}

{% macro default__list_select(values, positions) -%}
list_select({{ values }}, {{ positions }})
{%- endmacro %}

{% macro spark__list_select(values, positions) -%}
transform({{ positions }}, position -> element_at({{ values }}, cast(position as int)))
{%- endmacro %}


{#- [1, 2, ..., count]; empty when count is 0. -#}
{% macro list_positions(count) -%}
  {{ return(adapter.dispatch('list_positions', 'clickintent')(count)) }}
{%- endmacro %}

{% macro default__list_positions(count) -%}
range(1, {{ count }} + 1)
{%- endmacro %}

{#- sequence(1, 0) counts down, [1, 0]; from 0 and without it, the empty list stays empty -#}
{% macro spark__list_positions(count) -%}
filter(sequence(0, {{ count }}), position -> position > 0)
{%- endmacro %}


{#- `list` without its last element (empty for an empty list). -#}
{% macro list_drop_last(list) -%}
  {{ return(adapter.dispatch('list_drop_last', 'clickintent')(list)) }}
{%- endmacro %}

{% macro default__list_drop_last(list) -%}
{{ list }}[:-2]
{%- endmacro %}

{% macro spark__list_drop_last(list) -%}
slice({{ list }}, 1, greatest(size({{ list }}) - 1, 0))
{%- endmacro %}


{#- `element` followed by the elements of `list`. -#}
{% macro list_prepend(element, list) -%}
  {{ return(adapter.dispatch('list_prepend', 'clickintent')(element, list)) }}
{%- endmacro %}

{% macro default__list_prepend(element, list) -%}
list_prepend({{ element }}, {{ list }})
{%- endmacro %}

{% macro spark__list_prepend(element, list) -%}
concat(array({{ element }}), {{ list }})
{%- endmacro %}


{#- left[i] - right[i] for each position of two lists of one length. -#}
{% macro list_differences(left, right) -%}
  {{ return(adapter.dispatch('list_differences', 'clickintent')(left, right)) }}
{%- endmacro %}

{% macro default__list_differences(left, right) -%}
list_transform(
            list_zip({{ left }}, {{ right }}),
            lambda pair: pair[1] - pair[2]
        )
{%- endmacro %}

{% macro spark__list_differences(left, right) -%}
zip_with({{ left }}, {{ right }}, (minuend, subtrahend) -> minuend - subtrahend)
{%- endmacro %}


{#- The sorted list (structs sort field by field). -#}
{% macro list_sort(list) -%}
  {{ return(adapter.dispatch('list_sort', 'clickintent')(list)) }}
{%- endmacro %}

{% macro default__list_sort(list) -%}
list_sort({{ list }})
{%- endmacro %}

{% macro spark__list_sort(list) -%}
array_sort({{ list }})
{%- endmacro %}


{#- A list literal of strings, typed (DuckDB: cast(['a', 'b'] as varchar[])). -#}
{% macro string_list(values) -%}
  {{ return(adapter.dispatch('string_list', 'clickintent')(values)) }}
{%- endmacro %}

{% macro default__string_list(values) -%}
cast({{ values }} as varchar[])
{%- endmacro %}

{% macro spark__string_list(values) -%}
array({% for value in values %}{{ sql_string(value) }}{% if not loop.last %}, {% endif %}{% endfor %})
{%- endmacro %}


{#- An empty list of `element_type` (a DuckDB type name). -#}
{% macro empty_list(element_type) -%}
  {{ return(adapter.dispatch('empty_list', 'clickintent')(element_type)) }}
{%- endmacro %}

{% macro default__empty_list(element_type) -%}
cast([] as {{ element_type }}[])
{%- endmacro %}

{% macro spark__empty_list(element_type) -%}
cast(array() as {{ spark_data_type(element_type ~ '[]') }})
{%- endmacro %}


{#- One row per element of a list expression (in a select list), as DuckDB's unnest. -#}
{% macro unnest_list(list) -%}
  {{ return(adapter.dispatch('unnest_list', 'clickintent')(list)) }}
{%- endmacro %}

{% macro default__unnest_list(list) -%}
unnest({{ list }})
{%- endmacro %}

{% macro spark__unnest_list(list) -%}
explode({{ list }})
{%- endmacro %}


{#- A table of one string column from a list of values, for `from ... as name(column)`. -#}
{% macro strings_table(values) -%}
  {{ return(adapter.dispatch('strings_table', 'clickintent')(values)) }}
{%- endmacro %}

{% macro default__strings_table(values) -%}
unnest({{ values }})
{%- endmacro %}

{% macro spark__strings_table(values) -%}
explode(array({% for value in values %}{{ sql_string(value) }}{% if not loop.last %}, {% endif %}{% endfor %}))
{%- endmacro %}


{#- The list of the parts of `text` between `separator`s (a SQL string literal; on Spark a regular expression, so a plain character). -#}
{% macro split_text(text, separator) -%}
  {{ return(adapter.dispatch('split_text', 'clickintent')(text, separator)) }}
{%- endmacro %}

{% macro default__split_text(text, separator) -%}
string_split({{ text }}, {{ separator }})
{%- endmacro %}

{% macro spark__split_text(text, separator) -%}
split({{ text }}, {{ separator }})
{%- endmacro %}


{#- A list of the values of SQL expressions. -#}
{% macro list_of(expressions) -%}
  {{ return(adapter.dispatch('list_of', 'clickintent')(expressions)) }}
{%- endmacro %}

{% macro default__list_of(expressions) -%}
[{{ expressions | join(', ') }}]
{%- endmacro %}

{% macro spark__list_of(expressions) -%}
array({{ expressions | join(', ') }})
{%- endmacro %}


{#- The list without its null elements (Spark: without a lambda, which may not hold a subquery). -#}
{% macro list_compact(list) -%}
  {{ return(adapter.dispatch('list_compact', 'clickintent')(list)) }}
{%- endmacro %}

{% macro default__list_compact(list) -%}
list_filter({{ list }}, lambda element: element is not null)
{%- endmacro %}

{% macro spark__list_compact(list) -%}
array_compact({{ list }})
{%- endmacro %}
