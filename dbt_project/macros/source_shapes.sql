{#-
  Source shapes (docs/sources.md): which relation stg_events reads, and helpers for the
  tracker-shaped staging models under models/staging/<shape>/.

  var('source_shape'):
    contract  the contract's raw events (source raw.events), as `clickintent generate|load` write
    snowplow  models/staging/snowplow/stg_snowplow__events (atomic.events)
    ga4       models/staging/ga4/stg_ga4__events (the BigQuery export, nested event_params)
    segment   models/staging/segment/stg_segment__events (pages, screens, tracks, identifies)
  Every shape's staging hands stg_events the contract's event columns, so nothing from
  stg_events on depends on the shape.
-#}
{#- The shapes, as clickintent.events.shapes.SOURCE_SHAPES (tests/events/test_shapes.py keeps them equal). -#}
{% macro clickintent_source_shapes() -%}
  {{ return(['contract', 'snowplow', 'ga4', 'segment']) }}
{%- endmacro %}


{% macro raw_events() -%}
  {%- set shape = var('source_shape', 'contract') -%}
  {%- if shape not in clickintent_source_shapes() -%}
    {{ exceptions.raise_compiler_error("var source_shape must be one of " ~ clickintent_source_shapes() | join(', ') ~ "; got '" ~ shape ~ "'") }}
  {%- elif shape != 'contract' and target.type != 'duckdb' -%}
    {#- the tracker shapes' staging models are DuckDB SQL (list lambdas, DuckDB's CSV sniffer) -#}
    {{ exceptions.raise_compiler_error("source_shape '" ~ shape ~ "' is built on DuckDB only; on a " ~ target.type ~ " target only the contract shape runs (docs/spark.md)") }}
  {%- elif shape == 'contract' -%}
    {{ return(source_relation('raw', 'events')) }}
  {%- endif -%}
  {{ return(ref('stg_' ~ shape ~ '__events')) }}
{%- endmacro %}


{#- True when the shaped staging model of `shape` is the one this build reads. -#}
{% macro source_shape_is(shape) -%}
  {{ return(var('source_shape', 'contract') == shape) }}
{%- endmacro %}


{#-
  The lower-cased column names of a relation, read at run time (a tracker's optional columns,
  e.g. Snowplow's context columns, exist only where that context is enabled). While parsing
  nothing runs and the list is empty.
-#}
{% macro relation_columns(relation) -%}
  {%- if not execute -%}
    {{ return([]) }}
  {%- endif -%}
  {%- set described = run_query("describe select * from " ~ relation) -%}
  {%- set names = [] -%}
  {%- for name in described.columns[0].values() -%}
    {%- do names.append(name | lower) -%}
  {%- endfor -%}
  {{ return(names) }}
{%- endmacro %}


{#- `name` when the relation has that column, else a typed null. -#}
{% macro column_or_null(columns, name, type='varchar') -%}
  {%- if name | lower in columns -%}{{ name }}{%- else -%}cast(null as {{ type }}){%- endif -%}
{%- endmacro %}


{#-
  The device classes a tracker reports, as the contract's (desktop, mobile, tablet, other):
  Snowplow's dvce_type (Computer, Mobile, Tablet), YAUAA's deviceClass (Desktop, Phone,
  Tablet), GA4's device.category (desktop, mobile, tablet). Anything else is other.
-#}
{% macro contract_device_type(value) -%}
  case lower({{ value }})
    when 'computer' then 'desktop'
    when 'desktop' then 'desktop'
    when 'mobile' then 'mobile'
    when 'phone' then 'mobile'
    when 'tablet' then 'tablet'
  end
{%- endmacro %}


{#-
  One row per event of a tracker that delivers at least once (Snowplow's collector, GA4's export
  of a retried hit, Segment's retried calls): of the rows sharing an event_id, the first by
  `order_by`. A `qualify` clause, for the end of a select.
-#}
{% macro one_row_per_event(order_by) -%}
  qualify row_number() over (partition by event_id order by {{ order_by }}) = 1
{%- endmacro %}


{#-
  For a stream of owner rows (the events) and trailing rows (Snowplow's page pings, GA4's
  user_engagement hits): how many owner rows of the partition come at or before each row, so
  that grouping the trailing rows by (partition, rank) attaches each to the latest owner before
  it (rank 0: no owner yet, a stray). At the same time an owner comes first.
-#}
{% macro owner_rank(is_trailing, partition_by, time_column, tie_breaker) -%}
  count(*) filter (where not ({{ is_trailing }})) over (
      partition by {{ partition_by }}
      order by {{ time_column }}, {{ is_trailing }}, {{ tie_breaker }}
      rows between unbounded preceding and current row
  )
{%- endmacro %}


{#- A GA4 event parameter by key (event_params is a list of {key, value} structs). -#}
{% macro ga4_param(key, kind='string_value') -%}
  list_filter(event_params, lambda p: p.key = '{{ key }}')[1].value.{{ kind }}
{%- endmacro %}


{#- An integer GA4 parameter, whichever of its value fields the tag filled. -#}
{% macro ga4_int_param(key) -%}
  coalesce({{ ga4_param(key, 'int_value') }}, cast({{ ga4_param(key, 'double_value') }} as bigint), try_cast({{ ga4_param(key) }} as bigint))
{%- endmacro %}
