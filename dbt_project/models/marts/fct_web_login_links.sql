{#-
  One row per kept web session linked to a customer: the only link from anonymous web clicks
  to a customer, and how it was made.

  web_session_login: the session contains a login event; its customer is the customer_id its
  events carry (the contract sets it from the login event on; see int_sessions.customer_id). It
  counts for the customer from the session's end, as before any stitching.
  stitched: an anonymous session of the same cookie (no login, no customer) that ended at most
  var stitch_window_days (30) days before a later login, linked to that login's customer, as
  Snowplow's and Segment's identity stitching do. Each anonymous session goes to the cookie's
  first login at or after its end. Nothing was known of the link before the login, so such a
  session counts for the customer from the login's time on (linked_at_ts), never earlier.

  counts_from_ts is that rule in one column (the session's end or the login time, whichever is
  later): fct_customer_web_intent and the customer-level model outputs count a linked session
  from it. Empty in the identity-free mode (var identity_linking 'off'): int_sessions gives no
  web session a customer_id, so there is no login to stitch to either.

  A file per UTC day of counts_from_ts, each in web_session_id order (macros/partitioned_marts.sql).
  A link changes only where its cookie's sessions do, from the cookie's sessionization scope's
  start on: a session built again starts there (and ends, and counts, later), a login added
  there comes after the cookie's earlier logins, and a session stitched anew counts from that
  login. So an incremental build writes the days from the scope's first on, from the sessions
  that ended at most the stitch window before it (those a login from that day on can reach).
-#}
{%- set stitch_window_days = var('stitch_window_days', 30) %}
{%- if stitch_window_days is not number or stitch_window_days < 0 or stitch_window_days != stitch_window_days | int %}
    {{ exceptions.raise_compiler_error("var stitch_window_days must be a whole number of days, 0 or more, got " ~ stitch_window_days) }}
{%- endif %}
{%- set from_day = rebuilt_from_day(config.get('rebuilt_from_scope')) %}
{{ config(partition_by_day={'column': 'counts_from_ts', 'order_by': 'web_session_id'}, rebuilt_from_scope='int_sessionization_scope') }}
-- depends_on: {{ ref('int_sessionization_scope') }}

with

sessions as (

    select * from {{ ref('int_sessions') }}
    where platform = 'web' and session_class = 'kept'
    {%- if from_day is not none %}
        and session_end_ts >= {{ utc_day_start(from_day) }} - interval {{ stitch_window_days }} days
    {%- endif %}

),

logins as (

    select
        session_id as web_session_id,
        customer_id,
        anonymous_id,
        'web_session_login' as link_method,
        login_ts as linked_at_ts,
        session_start_ts,
        session_end_ts,
        session_id as login_web_session_id

    from sessions
    where has_login and customer_id is not null

),

anonymous_sessions as (

    select * from sessions
    where not has_login and customer_id is null

),

stitched as (

    select
        anonymous_sessions.session_id as web_session_id,
        -- the cookie's first login at or after the session's end; the session id breaks a tie
        {{ arg_min('logins.customer_id', struct_pack({'ts': 'logins.linked_at_ts', 'id': 'logins.web_session_id'})) }} as customer_id,
        anonymous_sessions.anonymous_id,
        'stitched' as link_method,
        min(logins.linked_at_ts) as linked_at_ts,
        anonymous_sessions.session_start_ts,
        anonymous_sessions.session_end_ts,
        {{ arg_min('logins.web_session_id', struct_pack({'ts': 'logins.linked_at_ts', 'id': 'logins.web_session_id'})) }} as login_web_session_id

    from anonymous_sessions
    inner join logins
        on logins.anonymous_id = anonymous_sessions.anonymous_id
        and logins.linked_at_ts >= anonymous_sessions.session_end_ts
    group by all
    having min(logins.linked_at_ts) <= anonymous_sessions.session_end_ts + interval {{ stitch_window_days }} days

),

links as (

    select * from logins
    union all
    select * from stitched

),

final as (

    select
        web_session_id,
        customer_id,
        anonymous_id,
        link_method,
        linked_at_ts,
        greatest(session_end_ts, linked_at_ts) as counts_from_ts,
        session_start_ts,
        session_end_ts,
        login_web_session_id

    from links

)

select * from final
