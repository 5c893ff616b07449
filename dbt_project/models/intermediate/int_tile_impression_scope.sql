-- What an incremental build rebuilds of fct_tile_impressions: the days from the first one whose
-- tile impressions changed (macros/input_days.sql).
{{ changed_input_days_scope(['tile_impressions']) }}
