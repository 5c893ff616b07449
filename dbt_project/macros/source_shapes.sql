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
{% macro raw_events() -%}
  {%- set shape = var('source_shape', 'contract') -%}
  {%- if shape != 'contract' and target.type != 'duckdb' -%}
    {#- the tracker shapes' staging models are DuckDB SQL (list lambdas, DuckDB's CSV sniffer) -#}
    {{ exceptions.raise_compiler_error("source_shape '" ~ shape ~ "' is built on DuckDB only; on a " ~ target.type ~ " target only the contract shape runs (docs/spark.md)") }}
  {%- endif -%}
  {%- if shape == 'contract' -%}
    {{ return(source_relation('raw', 'events')) }}
  {%- elif shape in ['snowplow', 'ga4', 'segment'] -%}
    {{ return(ref('stg_' ~ shape ~ '__events')) }}
  {%- else -%}
    {{ exceptions.raise_compiler_error("var source_shape must be one of contract, snowplow, ga4, segment; got '" ~ shape ~ "'") }}
  {%- endif -%}
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


{#- A timestamp as timestamptz, a naive one read as UTC (a CSV export writes them naive). -#}
{% macro utc_timestamp(value) -%}
  cast({{ value }} as timestamptz)
{%- endmacro %}


{#- A GA4 event parameter by key (event_params is a list of {key, value} structs). -#}
{% macro ga4_param(key, kind='string_value') -%}
  list_filter(event_params, lambda p: p.key = '{{ key }}')[1].value.{{ kind }}
{%- endmacro %}


{#- An integer GA4 parameter, whichever of its value fields the tag filled. -#}
{% macro ga4_int_param(key) -%}
  coalesce({{ ga4_param(key, 'int_value') }}, cast({{ ga4_param(key, 'double_value') }} as bigint), try_cast({{ ga4_param(key) }} as bigint))
{%- endmacro %}
