{{ config(partition_by_day={'column': 'as_of_ts', 'order_by': 'customer_id, as_of_ts'}, rebuilt_from_scope='int_customer_app_scope') }}
{#-
  One row per customer per kept app session end (as_of_ts): the customer's in-app intent over
  their kept app sessions (every device) that ended in [as_of_ts - 30 days, as_of_ts], both
  ends included. Nothing after as_of_ts counts, so the row is point-in-time correct. The app
  session's customer is the app's own sign-in, not a link from the web, so the mart is the same
  in the identity-free mode. Two sessions of one customer (two devices) ending at one instant
  give one row, named after the larger session id; the window holds both either way.

  Built in int_customer_app_intent (incrementally on DuckDB); this is its rows without the key
  as_of_us, a file per UTC day of as_of_ts in (customer_id, as_of_ts) order
  (macros/partitioned_marts.sql).
-#}
-- depends_on: {{ ref('int_customer_app_scope') }}
select {{ star_except('intent', ['as_of_us']) }}
from {{ ref('int_customer_app_intent') }} as intent
