{#-
  One row per customer per kept app session end (as_of_ts): the customer's in-app intent over
  their kept app sessions (every device) that ended in [as_of_ts - 30 days, as_of_ts], both
  ends included. Nothing after as_of_ts counts, so the row is point-in-time correct. The app
  session's customer is the app's own sign-in, not a link from the web, so the mart is the same
  in the identity-free mode. Two sessions of one customer (two devices) ending at one instant
  give one row, named after the larger session id; the window holds both either way.

  Built in int_customer_app_intent (incrementally on DuckDB); this is its rows in (customer_id,
  as_of_ts) order without the key as_of_us.
-#}
select {{ star_except('intent', ['as_of_us']) }}
from {{ ref('int_customer_app_intent') }} as intent
order by intent.customer_id, intent.as_of_ts
