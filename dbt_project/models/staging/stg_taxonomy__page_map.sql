-- One row per page path in the taxonomy page map; no rows when the taxonomy stage has not run
-- yet (the file is optional, checked when the model runs; see macros/source_is_present.sql).
-- depends_on: {{ source('taxonomy', 'page_map') }}
{%- set page_map_present = source_is_present(source('taxonomy', 'page_map')) %}

with

{% if page_map_present %}
source as (

    select * from {{ source('taxonomy', 'page_map') }}

),
{% else %}
source as (

    select
        cast(null as varchar) as page_path,
        cast(null as varchar) as node_id,
        cast(null as varchar) as node_name,
        cast(null as varchar) as top_node_id,
        cast(null as varchar) as top_node_name,
        cast(null as varchar) as taxonomy_version
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
