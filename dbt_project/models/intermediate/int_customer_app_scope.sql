{#-
  Per customer whose app sessions an incremental build may change, the first instant from which
  fct_customer_app_intent's rows are built again (macros/incremental.sql): the earliest scope
  start of the devices that carried the customer's sign-in in an app event from their scope's
  start. Every app session built again, before or after the build, is made of such events, so
  its customer is here, and no session of the customer that started earlier changed. Empty in a
  full build.
-#}
-- depends_on: {{ ref('int_sessionization_scope') }}, {{ ref('int_events_sessionized') }}
{% if incremental_build() -%}

with

scope as (

    select * from {{ ref('int_sessionization_scope') }}

),

events as (

    select event_id, customer_id
    from {{ staged_events(raw_events_since(scope_first_day())) }} as events
    where platform = 'app' and customer_id is not null

),

final as (

    -- int_sessions' way from an event to its session: by event_key
    select events.customer_id, min(scope.scope_start_us) as scope_start_us

    from events
    inner join {{ ref('int_events_sessionized') }} as sessionized on {{ row_hash('events.event_id') }} = sessionized.event_key
    inner join scope on sessionized.visitor_key = scope.visitor_key and sessionized.session_start_us >= scope.scope_start_us
    group by events.customer_id

)

select * from final
{%- else %}

select cast(null as {{ string_type() }}) as customer_id, cast(null as bigint) as scope_start_us
where false
{%- endif %}
