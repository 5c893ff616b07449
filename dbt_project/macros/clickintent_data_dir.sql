{#-
  Where the package reads its raw tables and page map when no location variable names them:
  var `clickintent_data_dir`, else $CLICKINTENT_DATA_DIR; '../data' (the checkout's data/, seen
  from dbt_project/) only when this project is the one being run. In a host project that default
  would be a guess relative to the host's working directory, so there it is none, and
  `check_package_configuration` (on-run-start) stops the run naming what to set.
  models/staging/_sources.yml spells the same default out (yml cannot call macros).
-#}
{% macro clickintent_data_dir() -%}
  {%- set configured = var('clickintent_data_dir', env_var('CLICKINTENT_DATA_DIR', '')) -%}
  {%- if configured -%}
    {{ return(configured) }}
  {%- elif project_name == 'clickintent' -%}
    {{ return('../data') }}
  {%- endif -%}
  {{ return(none) }}
{%- endmacro %}


{#- The raw tables of the event contract, as source names (tests/events/test_shapes.py checks them). -#}
{% macro clickintent_raw_tables() -%}
  {{ return(['events', 'products', 'customers', 'conversions', 'tile_impressions']) }}
{%- endmacro %}


{#-
  In a host project: a compile error when a raw table the build reads has neither a location
  variable nor a data directory to be read from. The contract's tables take
  clickintent_raw_location or clickintent_<table>_location (a tracker shape reads its events from
  its own tables, not raw.events); a tracker's tables (models/staging/_source_shapes.yml, source
  <shape>) take clickintent_<shape>_<table>_location each. Renders to nothing; called at the
  start of an on-run-start hook.
-#}
{% macro check_package_configuration() -%}
  {%- if execute and clickintent_data_dir() is none -%}
    {%- set shape = var('source_shape', 'contract') -%}
    {%- set unset = [] -%}
    {%- if var('clickintent_raw_location', none) is none -%}
      {%- for name in clickintent_raw_tables() if not (name == 'events' and shape != 'contract') -%}
        {%- if var('clickintent_' ~ name ~ '_location', none) is none -%}
          {%- do unset.append(name) -%}
        {%- endif -%}
      {%- endfor -%}
    {%- endif -%}
    {%- for tracker_table in graph.sources.values() if tracker_table.package_name == 'clickintent' and tracker_table.source_name == shape -%}
      {%- set name = shape ~ '_' ~ tracker_table.name -%}
      {%- if var('clickintent_' ~ name ~ '_location', none) is none -%}
        {%- do unset.append(name) -%}
      {%- endif -%}
    {%- endfor -%}
    {%- if unset -%}
      {{ exceptions.raise_compiler_error(
          "clickintent package: no location for the raw tables " ~ unset | join(', ')
          ~ ". Set the var clickintent_raw_location (or clickintent_<table>_location) to your tables,"
          ~ " clickintent_<shape>_<table>_location to a tracker's (e.g. clickintent_snowplow_events_location),"
          ~ " or clickintent_data_dir (or $CLICKINTENT_DATA_DIR) to a directory holding raw/<table>.parquet") }}
    {%- endif -%}
  {%- endif -%}
{%- endmacro %}
