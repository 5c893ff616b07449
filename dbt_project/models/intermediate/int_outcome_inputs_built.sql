-- The products and conversions the last build's anonymous session outcomes were built from
-- (macros/outcome_inputs.sql), for the next incremental build's int_outcome_scope. Built after
-- int_anonymous_session_outcomes, so that a build that failed before it compares with the
-- inputs its outcomes really have.
-- depends_on: {{ ref('int_anonymous_session_outcomes') }}, {{ ref('int_outcome_scope') }}
{{ outcome_inputs() }}
