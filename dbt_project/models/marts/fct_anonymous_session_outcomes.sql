{{ config(partition_by_day={'column': 'session_end_ts', 'order_by': 'web_session_id, product_family'}, rebuilt_from_scope='int_outcome_scope') }}
{#-
  One row per (anonymous web session, product family): what the visitor did next about that
  family, the label of the anonymous-visitor ranker (clickintent.ranker.anonymous_model).

  An anonymous session is a kept web session without a login (no event names a customer). Its
  outcome for a family is true when, in (session_end_ts, session_end_ts + conversion_window_days
  (14) days] - strictly after the session, the last instant included - either
    - the same anonymous_id starts or submits an application form on the web (form_start /
      form_submit with a product_id) for a product of the family, or
    - the customer that anonymous_id logs in as in that window (fct_web_login_links, the only
      identity link) opens a product of the family (conversions).
  Nothing of the session itself counts (its own form starts are features, not labels), and
  only the session's own anonymous_id is followed. In the identity-free mode
  (identity_linking off) fct_web_login_links is empty, so only application forms count.
  label_window_complete is false when the window runs past the end of the data (a false
  outcome there is not final).

  Built in int_anonymous_session_outcomes (incrementally on DuckDB); this is its rows without the key
  session_end_us, a file per UTC day of session_end_ts in (web_session_id, product_family) order
  (macros/partitioned_marts.sql).
-#}
-- depends_on: {{ ref('int_outcome_scope') }}
select {{ star_except('outcomes', ['session_end_us']) }}
from {{ ref('int_anonymous_session_outcomes') }} as outcomes
