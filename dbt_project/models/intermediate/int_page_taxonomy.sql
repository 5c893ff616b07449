-- One row per page path seen in events (web or app), with its taxonomy node: from the taxonomy
-- page map when the page is in it; else the node 'unknown' for pages that do not exist (404
-- or error pages, see macros/is_unknown_page.sql); else the URL-section fallback
-- (node_id 'section:<section>', which is also its own top node).
with

page_titles as (

    select page_path, page_title, is_web_page from {{ ref('int_page_titles') }}

),

pages as (

    -- a page does not exist when every title it was shown with (and its path) says so
    select
        page_path,
        bool_or(is_web_page) as is_web_page,
        bool_and({{ is_unknown_page('page_path', 'page_title') }}) as is_unknown_page

    from page_titles
    group by page_path

),

page_map as (

    select * from {{ ref('stg_taxonomy__page_map') }}

),

mapped as (

    select
        pages.page_path,
        pages.is_web_page,
        pages.is_unknown_page,
        page_map.page_path is not null as is_in_page_map,
        {{ url_section('pages.page_path') }} as url_section,
        page_map.taxonomy_node_id,
        page_map.taxonomy_node_name,
        page_map.top_taxonomy_node_id,
        page_map.top_taxonomy_node_name,
        page_map.taxonomy_version

    from pages
    left join page_map on pages.page_path = page_map.page_path

),

final as (

    select
        -- a compact integer for the page within this build (events carry it so that the
        -- 10M-row models group and sort integers, not paths)
        cast(row_number() over (order by page_path) as integer) as page_code,
        page_path,
        is_web_page,
        is_unknown_page,
        case
            when is_in_page_map then 'page_map'
            when is_unknown_page then 'unknown_page'
            else 'url_section'
        end as mapping_source,
        case mapping_source
            when 'page_map' then taxonomy_node_id
            when 'unknown_page' then 'unknown'
            else 'section:' || url_section
        end as taxonomy_node_id,
        case mapping_source
            when 'page_map' then taxonomy_node_name
            when 'unknown_page' then 'Unknown page'
            else url_section
        end as taxonomy_node_name,
        case mapping_source
            when 'page_map' then top_taxonomy_node_id
            when 'unknown_page' then 'unknown'
            else 'section:' || url_section
        end as top_taxonomy_node_id,
        case mapping_source
            when 'page_map' then top_taxonomy_node_name
            when 'unknown_page' then 'Unknown page'
            else url_section
        end as top_taxonomy_node_name,
        case mapping_source when 'page_map' then taxonomy_version else mapping_source end as taxonomy_version

    from mapped

)

select * from final
order by page_path
