{#-
  One row per session (web and app), bots and junk included, with the session aggregates and
  the filter decision every mart uses.

  Filter rule (session_class; the first that applies):
    bot_fast_dwell      at least bot_min_events (20) events and a median dwell under
                        bot_max_median_dwell_ms (1 s): nobody reads 20 pages in under a second each
    bot_burst           at least bot_burst_min_events (10) events at more than
                        bot_max_events_per_minute (30) per minute, the rate measured over
                        max(duration, 1 s)
    junk_unknown_pages  every event is on an unknown page (404 or error page): scanners,
                        broken links
    kept                everything else; only kept sessions reach the marts
-#}
with

events as (

    select * from {{ ref('int_events_sessionized') }}

),

aggregated as (

    select
        session_id,
        -- the session's customer; should one session carry two (a shared device), the smaller
        -- id, so that reruns agree
        min(customer_id) as customer_id,
        min(event_ts) as session_start_ts,
        max(event_ts) as session_end_ts,
        count(*) as n_events,
        count(*) filter (where event_type = 'page_view') as n_page_views,
        count(*) filter (where event_type = 'screen_view') as n_screen_views,
        count(*) filter (where event_type = 'click') as n_clicks,
        count(*) filter (where event_type = 'search') as n_searches,
        count(*) filter (where event_type = 'calculator') as n_calculator_events,
        count(*) filter (where event_type = 'form_start') as n_form_starts,
        count(*) filter (where event_type = 'form_submit') as n_form_submits,
        count(*) filter (where event_type = 'login') as n_logins,
        count(*) filter (where product_id is not null) as n_product_events,
        count(*) filter (where is_unknown_page) as n_unknown_page_events,
        cast(sum(dwell_ms) as double) / 1000 as total_dwell_s,
        avg(dwell_ms) / 1000 as mean_dwell_s,
        median(dwell_ms) / 1000 as median_dwell_s,
        cast(max(dwell_ms) as double) / 1000 as max_dwell_s,
        min(event_ts) filter (where event_type = 'login') as login_ts,
        bool_or(is_session_end and event_type = 'login') as ends_in_login

    from events
    group by session_id

),

-- the first event, flagged by the sessionization pass: a join on it is cheaper than
-- arg_min(<text>, position) per session (measured several times slower in DuckDB at 10M events)
entries as (

    select
        session_id,
        platform,
        anonymous_id,
        device_type,
        page_path as entry_page_path,
        referrer as entry_referrer,
        utm_source as entry_utm_source

    from events
    where is_session_start

),

joined as (

    select
        aggregated.session_id,
        entries.platform,
        entries.anonymous_id,
        aggregated.* exclude (session_id),
        entries.device_type,
        entries.entry_page_path,
        entries.entry_referrer,
        entries.entry_utm_source

    from aggregated
    inner join entries on aggregated.session_id = entries.session_id

),

measured as (

    select
        *,
        date_diff('millisecond', session_start_ts, session_end_ts) / 1000.0 as duration_s,
        n_events * 60.0 / greatest(date_diff('millisecond', session_start_ts, session_end_ts) / 1000.0, 1.0)
            as events_per_minute

    from joined

),

final as (

    select
        session_id,
        platform,
        anonymous_id,
        customer_id,
        session_start_ts,
        session_end_ts,
        n_events,
        n_page_views,
        n_screen_views,
        n_clicks,
        n_searches,
        n_calculator_events,
        n_form_starts,
        n_form_submits,
        n_logins,
        n_product_events,
        n_unknown_page_events,
        total_dwell_s,
        mean_dwell_s,
        median_dwell_s,
        max_dwell_s,
        duration_s,
        events_per_minute,
        device_type,
        entry_page_path,
        entry_referrer,
        entry_utm_source,
        {{ entry_source('entry_referrer', 'entry_utm_source') }} as entry_source,
        n_logins > 0 as has_login,
        login_ts,
        ends_in_login,
        case
            when n_events >= {{ var('bot_min_events') }}
                and median_dwell_s * 1000 < {{ var('bot_max_median_dwell_ms') }} then 'bot_fast_dwell'
            when n_events >= {{ var('bot_burst_min_events') }}
                and events_per_minute > {{ var('bot_max_events_per_minute') }} then 'bot_burst'
            when n_unknown_page_events = n_events then 'junk_unknown_pages'
            else 'kept'
        end as session_class

    from measured

)

select * from final
