{{ config(partition_by_day={'column': 'session_start_ts', 'order_by': 'session_id'}, rebuilt_from_scope='int_sessionization_scope') }}
-- One row per session (web and app) that passed the bot/junk filter, with its events as arrays
-- in (event_ts, event_id) order: the encoder's input, as int_session_sequences holds them (which
-- an incremental build keeps up to date): a file per UTC day of session_start_ts, each in
-- session_id order (config partition_by_day, macros/partitioned_marts.sql).
select {{ star_except('sequences', ['visitor_key', 'session_start_us']) }}
from {{ ref('int_session_sequences') }} as sequences
