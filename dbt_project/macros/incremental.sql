{#-
  Incremental builds (docs/incremental.md). The models whose work grows with the events
  (int_events_sessionized, int_page_titles, int_sessions, int_session_sequences) are incremental
  tables on DuckDB: a build reads only the raw event files it has not built yet, and
  re-sessionizes every session those events touch, as Snowplow's dbt package does with its
  sessions lifecycle manifest:

    1. int_sessionization_scope: per visitor with new events, the scope starts at the earlier
       of its first new event and the first session that ended less than the session timeout
       before it (a session crossing midnight, or a late event landing inside or between old
       sessions). That instant starts a session in the new sessionization too.
    2. int_events_sessionized sessionizes every event of those visitors from there on again and
       replaces their rows (delete+insert on event_key).
    3. the session models rebuild, per visitor, the sessions from the scope's start, and keep the
       visitor's earlier sessions as they were (delete+insert on visitor_key).

  Which files are new is the caller's to say: `clickintent build` compares the raw event files
  with those its last successful build read (clickintent.features.incremental) and passes the
  new ones as var clickintent_new_event_files, or runs a full refresh (--full-refresh) when a
  file it read changed or the build's settings, taxonomy or models did. Spark builds every
  model in full (docs/spark.md).
-#}

{#- `incremental` on DuckDB; a table elsewhere (dbt-spark's Parquet tables take no delete+insert). -#}
{% macro incremental_on_duckdb() -%}
  {{ return('incremental' if target.type == 'duckdb' else 'table') }}
{%- endmacro %}


{#- The raw event files this build has not built yet, as `clickintent build` passes them. -#}
{% macro new_event_files() -%}
  {%- set files = var('clickintent_new_event_files', none) -%}
  {%- if var('source_shape', 'contract') != 'contract' -%}
    {{ exceptions.raise_compiler_error("incremental builds read the contract's raw event files; the " ~ var('source_shape') ~ " source shape builds in full: dbt build --full-refresh") }}
  {%- elif files is none -%}
    {{ exceptions.raise_compiler_error("an incremental build needs the raw event files it has not built yet (var clickintent_new_event_files): run `clickintent build`, or dbt build --full-refresh") }}
  {%- endif -%}
  {{ return(files) }}
{%- endmacro %}


{#- The new raw events: those files read as one relation (none: no rows). -#}
{% macro new_raw_events() -%}
  {%- set files = new_event_files() -%}
  {%- if files | length == 0 -%}
(select * from {{ raw_events() }} where false)
  {%- else -%}
read_parquet([{% for file in files %}'{{ file }}'{% if not loop.last %}, {% endif %}{% endfor %}], hive_partitioning = false)
  {%- endif -%}
{%- endmacro %}


{#-
  The raw events from UTC day `first_day` on: with day partitions only those partitions are
  read (DuckDB prunes the files by the partition column); one file is read whole. None: no rows.
-#}
{% macro raw_events_since(first_day) -%}
  {%- if first_day is none -%}
(select * from {{ raw_events() }} where false)
  {%- elif var('clickintent_events_partitioned', false) -%}
(select * from {{ raw_events() }} where event_date >= date '{{ first_day }}')
  {%- else -%}
{{ raw_events() }}
  {%- endif -%}
{%- endmacro %}


{#-
  Whether this invocation builds incrementally: the scope model's answer to the question each
  incremental model's is_incremental() answers for itself (DuckDB, no --full-refresh, and the
  sessions built before are there).
-#}
{% macro incremental_build() -%}
  {%- if not execute or target.type != 'duckdb' or flags.FULL_REFRESH -%}
    {{ return(false) }}
  {%- endif -%}
  {%- for name in ['int_events_sessionized', 'int_sessions', 'int_session_sequences'] -%}
    {%- if adapter.get_relation(this.database, this.schema, name) is none -%}
      {{ return(false) }}
    {%- endif -%}
  {%- endfor -%}
  {{ return(true) }}
{%- endmacro %}


{#- The UTC day of the earliest scope start (None: an empty scope), read at run time. -#}
{% macro scope_first_day() -%}
  {%- if not execute -%}
    {{ return(none) }}
  {%- endif -%}
  {%- set first = run_query("select cast(make_timestamp(min(scope_start_us)) as date) from " ~ ref('int_sessionization_scope')).columns[0].values()[0] -%}
  {{ return(none if first is none else first | string) }}
{%- endmacro %}
