{#-
  Type names. The models' yml contracts are written in DuckDB's names (the Feast code
  generator reads them); spark_data_type translates one for Spark, where enforced contracts
  compare the query's columns with an empty query cast to the yml's types
  (spark__get_empty_schema_sql below).
-#}
{% macro string_type() -%}
  {{ return(adapter.dispatch('string_type', 'clickintent')()) }}
{%- endmacro %}

{% macro default__string_type() -%}
varchar
{%- endmacro %}

{% macro spark__string_type() -%}
string
{%- endmacro %}


{#- A UTC instant: DuckDB's timestamptz; Spark's timestamp is one too (session time zone UTC). -#}
{% macro timestamp_tz_type() -%}
  {{ return(adapter.dispatch('timestamp_tz_type', 'clickintent')()) }}
{%- endmacro %}

{% macro default__timestamp_tz_type() -%}
timestamptz
{%- endmacro %}

{% macro spark__timestamp_tz_type() -%}
timestamp
{%- endmacro %}


{#- A list of `element_type` (a DuckDB type name). -#}
{% macro list_type(element_type) -%}
  {{ return(adapter.dispatch('list_type', 'clickintent')(element_type)) }}
{%- endmacro %}

{% macro default__list_type(element_type) -%}
{{ element_type }}[]
{%- endmacro %}

{% macro spark__list_type(element_type) -%}
{{ spark_data_type(element_type ~ '[]') }}
{%- endmacro %}


{#- A DuckDB type name (as the yml contracts write them) in Spark's spelling. -#}
{% macro spark_data_type(duckdb_type) -%}
  {%- set name = duckdb_type | trim | lower -%}
  {%- if name.endswith('[]') -%}
    array<{{ spark_data_type(name[:-2]) }}>
  {%- else -%}
    {%- set spark_names = {
        'varchar': 'string',
        'text': 'string',
        'timestamp with time zone': 'timestamp',
        'timestamptz': 'timestamp',
        'integer': 'int',
        'hugeint': 'decimal(38,0)',
    } -%}
    {{ spark_names.get(name, name) }}
  {%- endif -%}
{%- endmacro %}


{#-
  dbt's empty query over the yml's columns, against which an enforced contract compares the
  model's query: here with the yml's DuckDB type names translated (dbt's own casts them as written).
-#}
{% macro spark__get_empty_schema_sql(columns) -%}
  select
  {%- for name in columns %}
    {%- set column = columns[name] %}
    {%- if column['data_type'] is not defined or column['data_type'] is none %}
      {{ exceptions.raise_compiler_error("contract column " ~ column['name'] ~ " has no data_type") }}
    {%- endif %}
    cast(null as {{ spark_data_type(column['data_type']) }}) as {{ adapter.quote(column['name']) if column.get('quote') else column['name'] }}{{ ", " if not loop.last }}
  {%- endfor %}
{%- endmacro %}
