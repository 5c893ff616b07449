-- One row per page path and title seen in events, and whether the pair was seen on the web: all
-- int_page_taxonomy needs of the events to decide each page's existence and platform, so that it
-- need not read every event again. Incremental on DuckDB: a build adds the new events' pairs
-- (macros/incremental.sql).
{{ config(materialized=incremental_on_duckdb(), incremental_strategy='delete+insert', pre_hook='{{ clear_unless_incremental_build() }}', unique_key='page_title_key') }}

with

seen as (

{%- if is_incremental() and incremental_build() %}

    select page_path, page_title, platform = 'web' as is_web_page from {{ staged_events(new_raw_events()) }} as events
    union all
    select page_path, page_title, is_web_page from {{ this }}
{%- else %}

    select page_path, page_title, platform = 'web' as is_web_page from {{ ref('stg_events') }}
{%- endif %}

),

final as (

    select
        {{ row_hash('page_path', 'page_title') }} as page_title_key,
        page_path,
        page_title,
        bool_or(is_web_page) as is_web_page

    from seen
    group by page_path, page_title

)

select * from final
