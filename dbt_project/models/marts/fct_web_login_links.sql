-- One row per kept web session in which the visitor logged in: the only link from anonymous
-- web clicks to a customer. The session's customer is the customer_id its events carry (the
-- contract sets it from the login event on; see int_sessions.customer_id).
-- Empty in the identity-free mode (var identity_linking 'off'): int_sessions gives no web session
-- a customer_id, so nothing downstream (fct_customer_web_intent, fct_conversion_labels) links either.
with

sessions as (

    select * from {{ ref('int_sessions') }}
    where platform = 'web' and session_class = 'kept'

),

final as (

    select
        session_id as web_session_id,
        customer_id,
        anonymous_id,
        'web_session_login' as link_method,
        login_ts as linked_at_ts,
        session_start_ts,
        session_end_ts

    from sessions
    where has_login and customer_id is not null

)

select * from final
order by web_session_id
