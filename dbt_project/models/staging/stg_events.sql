-- On Spark a table: a view's text is stored in the Hive metastore, whose limit (32,700
-- characters) the three redactions exceed.
{{ config(materialized='table' if target.type == 'spark' else 'view') }}
-- One row per raw event (web and app), as macros/staged_events.sql stages them. (Which pages do
-- not exist is decided once per page in int_page_taxonomy, not per event.)
-- the contract's raw events, or a tracker's mapped to them (macros/source_shapes.sql)
select * from {{ staged_events(raw_events()) }} as events
