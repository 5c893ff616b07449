-- One row per session (web and app) that passed the bot/junk filter, with its events as arrays
-- in (event_ts, event_id) order: the encoder's input, as int_session_sequences holds them (which
-- an incremental build keeps up to date), ordered by session_id.
select {{ star_except('sequences', ['visitor_key', 'session_start_us']) }}
from {{ ref('int_session_sequences') }} as sequences
order by sequences.session_id
