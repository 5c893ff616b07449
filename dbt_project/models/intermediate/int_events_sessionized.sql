{#-
  Sessionization: the session of every event, in one pass over the event timeline.

  A session is a run of events of one anonymous_id on one platform with no gap of
  `session_timeout_minutes` (default 30) or more between consecutive events: a gap of exactly
  the timeout starts a new session. Sessions are not cut at midnight. A session is identified
  by its visitor and the instant of its first event (visitor_key, session_start_us).

  Why integer keys instead of the events' own columns: the window functions below sort the
  whole event table, and DuckDB sorts every column a window query carries. Over the string
  keys and wide rows this took about a minute at 10M events; over a few 64-bit integers it
  takes seconds. So the pass carries only
    event_key    hash(event_id), by which later models join the event's other columns back
    visitor_key  hash(platform, anonymous_id), whose events form one timeline
    event_us     epoch microseconds of event_ts

  Hash collisions cannot pass silently:
    - two event_ids with one event_key make the join back give more rows than there are
      events, which fails the test int_sessions_join_back_is_one_to_one (tests/; it also
      proves event_id unique, and the join back exact);
    - two visitors with one visitor_key would share a timeline. A session holding events of
      both fails int_sessions' single-visitor test; a session holding events of one of them
      only is exactly the session that visitor has on its own timeline.

  Which events share a session does not depend on how events at the same instant are ordered
  (their gap is 0), so the windows order by time only. The order inside a session - ties go
  by event_id - is settled where it matters: int_sessions (first and last event) and
  fct_session_sequences (the arrays).

  Incremental on DuckDB (macros/incremental.sql): a build sessionizes again only the visitors
  with new events, from the first session the new events can touch (int_sessionization_scope),
  and replaces those rows.
-#}
{%- set timeout_minutes = var('session_timeout_minutes') | int -%}
{%- if timeout_minutes < 1 -%}
  {{ exceptions.raise_compiler_error("session_timeout_minutes must be a positive number of minutes, got " ~ var('session_timeout_minutes')) }}
{%- endif -%}
{%- set timeout_us = timeout_minutes * 60 * 1000000 -%}
{{ config(materialized=incremental_on_duckdb(), incremental_strategy='delete+insert', pre_hook='{{ clear_unless_incremental_build() }}', unique_key='event_key') }}
-- depends_on: {{ ref('int_sessionization_scope') }}

with

{% if is_incremental() and incremental_build() -%}

scope as (

    select * from {{ ref('int_sessionization_scope') }}

),

events as (

    -- every event of those visitors from their scope's start: the new ones and those built before
    select raw.event_id, raw.platform, raw.anonymous_id, cast(raw.event_ts as {{ timestamp_tz_type() }}) as event_ts
    from {{ raw_events_since(scope_first_day()) }} as raw
    inner join scope
        on {{ row_hash('raw.platform', 'raw.anonymous_id') }} = scope.visitor_key
        and {{ epoch_us('cast(raw.event_ts as ' ~ timestamp_tz_type() ~ ')') }} >= scope.scope_start_us

),
{%- else %}

events as (

    select event_id, platform, anonymous_id, event_ts from {{ ref('stg_events') }}

),
{%- endif %}

timeline as (

    select
        {{ row_hash('events.event_id') }} as event_key,
        {{ row_hash('events.platform', 'events.anonymous_id') }} as visitor_key,
        {{ epoch_us('events.event_ts') }} as event_us

    from events

),

with_session_starts as (

    select
        event_key,
        visitor_key,
        event_us,
        coalesce(
            event_us - lag(event_us) over (partition by visitor_key order by event_us)
                >= {{ timeout_us }},
            true
        ) as is_session_start

    from timeline

),

final as (

    -- the latest session start up to this instant; a RANGE frame takes in every event of the
    -- same instant, so events at one instant always share a session whatever their order
    select
        event_key,
        visitor_key,
        max(case when is_session_start then event_us end) over (
            partition by visitor_key order by event_us range between unbounded preceding and current row
        ) as session_start_us

    from with_session_starts

)

select * from final
