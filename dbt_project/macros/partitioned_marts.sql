{#-
  Marts partitioned by day (docs/incremental.md): a mart configured with
  `partition_by_day={'column': '<timestamp column>', 'order_by': '<its rows' order>'}` is a
  directory of Parquet files, one per UTC day of that column, `<marts>/<model>/<YYYY-MM-DD>.parquet`,
  each in that order, rather than one file. An incremental build writes only the days from the
  first one its rows can have changed on (`rebuilt_from_scope='<scope model>'`: the earliest
  scope_start_us of that scope, whose rows are the only ones an incremental build changes, each
  at or after its scope's start on that column); `clickintent build` carries the earlier days'
  files over from the committed set by hard links (clickintent.features.partitioned_marts). So
  the build writes and tests the days it rebuilt, not the whole history. During the build the
  mart's view reads the days written (what its data tests check); after the commit, every day.

  Each day is one COPY from a temporary table sorted by day: DuckDB's own partitioned COPY
  (PARTITION_BY) keeps no order within a file, so two builds of the same rows would write
  different files, and it measured slower than this on the sequence mart.
-#}

{#-
  The first UTC day whose rows this build writes: none for every day (a full build), '9999-12-31'
  when the scope is empty (no row changed), else the day of the scope's earliest start.
-#}
{% macro rebuilt_from_day(scope_model) -%}
  {%- if scope_model is none or not incremental_build() -%}
    {{ return(none) }}
  {%- endif -%}
  {%- set scope = adapter.get_relation(this.database, this.schema, scope_model) -%}
  {%- set query -%}
    select case
        when first_us is null then '9999-12-31'
        when first_us < 0 then null
        else strftime(make_timestamp(first_us), '%Y-%m-%d')
    end
    from (select min(scope_start_us) as first_us from {{ scope }})
  {%- endset -%}
  {{ return(run_query(query).columns[0].values()[0]) }}
{%- endmacro %}


{#- Writes the mart's days from rebuilt_from_day() on into `<location without .parquet>/`; the glob its view reads. -#}
{% macro write_partitioned_mart(location, columns, compiled_code, partitioning, scope_model) -%}
  {%- set directory = location[:-8] if location.endswith('.parquet') else location -%}
  {%- set column = adapter.quote(partitioning['column']) -%}
  {%- set from_day = rebuilt_from_day(scope_model) -%}
  {%- set days_table = adapter.quote(this.identifier ~ '__days') -%}
  {% call statement('main') -%}
    create or replace temporary table {{ days_table }} as
    select {{ columns }}, strftime(timezone('UTC', {{ column }}), '%Y-%m-%d') as partition_day
    from (
      {{ compiled_code }}
    ) as model_subq
    {%- if from_day is not none %}
    where {{ column }} >= timestamptz '{{ from_day }} 00:00:00+00'
    {%- endif %}
    order by partition_day, {{ partitioning['order_by'] }}
  {%- endcall %}
  {#- an empty partitioned COPY: creates the directory, and clears what a --select build linked into it -#}
  {% call statement('directory') -%}
    copy (select 1 as partition_key, 1 as unused where false) to '{{ directory }}' (format parquet, partition_by (partition_key), overwrite true)
  {%- endcall %}
  {%- set days = run_query("select distinct partition_day from " ~ days_table ~ " order by 1").columns[0].values() -%}
  {%- for day in days -%}
    {% call statement('day') -%}
      copy (
        select * exclude (partition_day) from {{ days_table }} where partition_day = '{{ day }}' order by {{ partitioning['order_by'] }}
      ) to '{{ directory }}/{{ day }}.parquet' (format parquet)
    {%- endcall %}
  {%- endfor -%}
  {%- if days | length == 0 -%}
    {#- no day written: an empty file keeps the mart's columns readable (its view, its tests) -#}
    {% call statement('empty') -%}
      copy (select * exclude (partition_day) from {{ days_table }}) to '{{ directory }}/{{ partitioned_mart_empty_file() }}' (format parquet)
    {%- endcall %}
  {%- endif -%}
  {% call statement('drop_days') -%}
    drop table {{ days_table }}
  {%- endcall %}
  {%- if from_day is not none -%}
    {% call statement('rebuilt_from') -%}
      copy (select '{{ from_day }}' as rebuilt_from) to '{{ directory }}.rebuilt_from.csv' (header false)
    {%- endcall %}
  {%- endif -%}
  {{ return(directory ~ '/*.parquet') }}
{%- endmacro %}


{% macro partitioned_mart_empty_file() -%}_empty.parquet{%- endmacro %}
