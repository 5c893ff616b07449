{{ config(severity='warn') }}
-- Events whose type the contract does not know, which stg_events keeps as 'other' (and those a
-- load already wrote as 'other'): a warning, not a failure, so that the build summary counts
-- them, one result per event, and the stored failures name the source's types (a tracker's
-- consent banners, video plays, custom events). An incremental build counts the new raw files'
-- events, as stg_events_rows_are_valid checks them: the others were counted when first read.
-- depends_on: {{ ref('stg_events') }}
{% set events = new_raw_events() if incremental_build(beside=ref('stg_events')) else raw_events() %}
select event_id, event_type as unknown_event_type
from {{ events }}
where coalesce(event_type, 'other')
    not in ({{ quoted_list(var('event_types') | reject('equalto', 'other')) }})
