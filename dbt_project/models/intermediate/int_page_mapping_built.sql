-- One row per page: its place in the taxonomy as the session models were last built with it
-- (macros/incremental.sql page_mapping). Built after them, so that a failed build leaves the
-- mapping they hold; the next incremental build compares it with the mapping then.
-- depends_on: {{ ref('int_sessions') }}, {{ ref('fct_session_sequences') }}
{{ page_mapping() }}
