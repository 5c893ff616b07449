-- One row per platform and session class (kept, or the filter rule that removed the session;
-- see int_sessions): how many sessions and events each rule removed.
with

sessions as (

    select platform, session_class, n_events from {{ ref('int_sessions') }}

),

classes as (

    select platform, session_class
    from {{ strings_table(var('platforms')) }} as platforms(platform)
    cross join {{ strings_table(var('session_classes')) }} as session_classes(session_class)

),

counted as (

    select platform, session_class, count(*) as n_sessions, cast(sum(n_events) as bigint) as n_events
    from sessions
    group by platform, session_class

),

final as (

    select
        classes.platform,
        classes.session_class,
        classes.session_class <> 'kept' as is_filtered,
        coalesce(counted.n_sessions, 0) as n_sessions,
        coalesce(counted.n_events, 0) as n_events

    from classes
    left join counted
        on classes.platform = counted.platform and classes.session_class = counted.session_class

)

select * from final
order by platform, session_class
