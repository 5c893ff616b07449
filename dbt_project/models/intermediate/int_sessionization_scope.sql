{#-
  Per visitor with new events, the first instant an incremental build sessionizes again
  (macros/incremental.sql): its first new event, or the start of its first session built before
  that ended less than the session timeout before that event, whichever is earlier. When a page
  built before maps differently now (page_mapping_changed), every visitor from its first
  session. Empty in a full build. The sessions built before are read from the previous build's
  int_sessions by name (a ref would make a cycle: int_sessions is built from this scope).
-#}
{%- set timeout_us = (var('session_timeout_minutes') | int) * 60 * 1000000 -%}
{%- set built_sessions = adapter.get_relation(this.database, this.schema, 'int_sessions') if execute else none -%}

-- depends_on: {{ ref('int_page_taxonomy') }}, {{ ref('dim_taxonomy_top_nodes') }}
{% if incremental_build() -%}

with

new_events as (

    select {{ row_hash('platform', 'anonymous_id') }} as visitor_key, min({{ epoch_us('event_ts') }}) as first_new_us
    from {{ new_raw_events() }} as events
    group by 1

),

built_sessions as (

    select visitor_key, session_start_us, {{ epoch_us('session_end_ts') }} as session_end_us
    from {{ built_sessions }}
    where visitor_key in (select visitor_key from new_events)

),

final as (

    select
        new_events.visitor_key,
        least(new_events.first_new_us, coalesce(min(built_sessions.session_start_us), new_events.first_new_us)) as scope_start_us

    from new_events
    left join built_sessions
        on built_sessions.visitor_key = new_events.visitor_key
        and built_sessions.session_end_us > new_events.first_new_us - {{ timeout_us }}
    group by new_events.visitor_key, new_events.first_new_us

)
{%- if page_mapping_changed() %},

everyone as (

    select visitor_key, min(scope_start_us) as scope_start_us
    from (
        select visitor_key, scope_start_us from final
        union all
        select visitor_key, session_start_us from {{ built_sessions }}
    )
    group by visitor_key

)

select * from everyone
{%- else %}

select * from final
{%- endif %}
{%- else %}

select cast(null as bigint) as visitor_key, cast(null as bigint) as scope_start_us
where false
{%- endif %}
