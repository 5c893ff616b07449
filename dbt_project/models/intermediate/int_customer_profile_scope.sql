-- What an incremental build rebuilds of dim_customer_profiles: the snapshots from the first day
-- whose snapshots or conversions changed (a snapshot counts the conversions up to it), every
-- snapshot when the catalogue changed (the families held) (macros/input_days.sql).
{{ changed_input_days_scope(['customers', 'conversions', 'products']) }}
