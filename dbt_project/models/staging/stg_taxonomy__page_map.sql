-- One row per page path in the taxonomy page map; no rows when the taxonomy stage has not run
-- yet (the file is optional, checked when the model runs; see macros/source_is_present.sql).
-- Without it int_page_taxonomy maps every page to its URL section: said by a warning, or an
-- error with the var clickintent_require_page_map. In a host project with neither
-- clickintent_page_map_location nor a data directory there is no page map to look for.
-- depends_on: {{ source('taxonomy', 'page_map') }}
{%- set page_map_configured = var('clickintent_page_map_location', none) is not none or clickintent_data_dir() is not none %}
{%- set page_map_present = page_map_configured and source_is_present(source_relation('taxonomy', 'page_map')) %}
{%- if execute and not page_map_present %}
  {%- set why = "no taxonomy page map at " ~ source('taxonomy', 'page_map') if page_map_configured
      else "no taxonomy page map configured (var clickintent_page_map_location or clickintent_data_dir)" %}
  {%- set message = "clickintent: " ~ why ~ ": every page falls back to its URL section (section:<first segment>)" %}
  {%- if var('clickintent_require_page_map', false) %}
    {{ exceptions.raise_compiler_error(message ~ "; clickintent_require_page_map is set") }}
  {%- else %}
    {{ exceptions.warn(message) }}
  {%- endif %}
{%- endif %}

with

{% if page_map_present %}
source as (

    select * from {{ source_relation('taxonomy', 'page_map') }}

),
{% else %}
source as (

    select
        cast(null as {{ string_type() }}) as page_path,
        cast(null as {{ string_type() }}) as node_id,
        cast(null as {{ string_type() }}) as node_name,
        cast(null as {{ string_type() }}) as top_node_id,
        cast(null as {{ string_type() }}) as top_node_name,
        cast(null as {{ string_type() }}) as taxonomy_version
    where false

),
{% endif %}

renamed as (

    select
        page_path,
        node_id as taxonomy_node_id,
        node_name as taxonomy_node_name,
        top_node_id as top_taxonomy_node_id,
        top_node_name as top_taxonomy_node_name,
        taxonomy_version

    from source

)

select * from renamed
