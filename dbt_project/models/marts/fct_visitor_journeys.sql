{{ config(partition_by_day={'column': 'as_of_ts', 'order_by': 'visitor_id, as_of_ts'}, rebuilt_from_scope='int_sessionization_scope') }}
{#-
  One row per visitor (a cookie on the web, a device in the app: visitor_id, see
  macros/visitor_id.sql) per kept session end: the visitor's journey as of that end (as_of_ts),
  over its kept sessions that ended in [as_of_ts - 30 days, as_of_ts], both ends included.
  Sessions of one visitor never overlap, so as_of_ts is unique per visitor, and nothing after
  as_of_ts counts: the row is point-in-time correct.

  A journey is everything the cookie or device did, signed in or not: the visitor entity names
  no customer, so the mart is the same in the identity-free mode. has_logged_in_before says
  whether the visitor had signed in by as_of_ts (a login event, or a session carrying a
  customer, as every app session does), counting all its history, not only the 30 days: a
  ranker for anonymous visitors trains on the rows where it is false.

  Built in int_visitor_journeys (incrementally on DuckDB); this is its rows without the keys, a
  file per UTC day of as_of_ts in (visitor_id, as_of_ts) order (macros/partitioned_marts.sql).
-#}
-- depends_on: {{ ref('int_sessionization_scope') }}
select {{ star_except('journeys', ['visitor_key', 'session_start_us']) }}
from {{ ref('int_visitor_journeys') }} as journeys
