{#-
  The session models join every event back to its session by event_key = hash(event_id)
  (int_events_sessionized). That join is exact only if no two events share an event_key - a
  hash collision, or a duplicate event_id, which implies one. This test proves it without
  grouping the 10M keys again (a `unique` test on event_key cost more than a second at 10M
  events, on the build's critical path):

  int_events_sessionized has exactly one row per event, with the key of that event. Joining
  the events to it on the key gives, for a key shared by m events, m x m rows; int_sessions
  groups exactly those joined rows, so its n_events add up to sum(m x m) over the keys, which
  equals the number of events only when every m is 1. Any collision makes the total larger
  and fails this test, which skips every model downstream of int_sessions (all session marts;
  fct_session_sequences joins on the same key and depends on int_sessions).
-#}
with

joined as (

    select coalesce(sum(n_events), 0) as n_joined_events
    from {{ ref('int_sessions') }}

),

events as (

    select count(*) as n_events
    from {{ ref('int_events_sessionized') }}

)

select joined.n_joined_events, events.n_events
from joined
cross join events
where joined.n_joined_events <> events.n_events
