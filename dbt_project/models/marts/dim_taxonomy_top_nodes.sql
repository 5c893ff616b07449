-- One row per top-level taxonomy node, numbered 1..K in top_node_id order: the order of every
-- taxonomy_node_shares array in the marts.
with

page_map as (

    select * from {{ ref('stg_taxonomy__page_map') }}

),

pages as (

    select * from {{ ref('int_page_taxonomy') }}

),

candidates as (

    -- every top node of the taxonomy, visited or not ...
    select top_taxonomy_node_id, top_taxonomy_node_name, taxonomy_version, 'page_map' as mapping_source, null as page_path
    from page_map

    union all

    -- ... and the fallback sections of web pages the taxonomy does not cover
    select top_taxonomy_node_id, top_taxonomy_node_name, taxonomy_version, mapping_source, page_path
    from pages
    where is_web_page

),

top_nodes as (

    select
        top_taxonomy_node_id,
        min(top_taxonomy_node_name) as top_taxonomy_node_name,
        min(taxonomy_version) as taxonomy_version,
        min(mapping_source) as mapping_source,
        count(distinct page_path) as n_web_pages

    from candidates
    group by top_taxonomy_node_id

),

final as (

    select
        cast(row_number() over (order by top_taxonomy_node_id) as integer) as top_node_position,
        top_taxonomy_node_id,
        top_taxonomy_node_name,
        taxonomy_version,
        mapping_source,
        n_web_pages

    from top_nodes

)

select * from final
order by top_node_position
