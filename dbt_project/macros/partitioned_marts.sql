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
  mart's view reads every day, as after the commit: the committed days carried over and the days
  written; its data tests check the days written (get_where_subquery below).

  Each day is one COPY from a temporary table sorted by day and the mart's order, which the COPY
  keeps (preserve_insertion_order, profiles.yml) without sorting again: DuckDB's own partitioned
  COPY (PARTITION_BY) keeps no order within a file, so two builds of the same rows would write
  different files, and it measured slower than this on the sequence mart.
-#}

{#-
  The first UTC day whose rows this build writes: none for every day (a full build), '9999-12-31'
  when the scope is empty (no row changed), else the day of the scope's earliest start.
-#}
{% macro rebuilt_from_day(scope_model, beside=none) -%}
  {%- set beside = beside or this -%}
  {%- if scope_model is none or not incremental_build(beside) -%}
    {{ return(none) }}
  {%- endif -%}
  {%- set scope = adapter.get_relation(beside.database, beside.schema, scope_model) -%}
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


{#- The first instant of UTC day `day` ('YYYY-MM-DD', as rebuilt_from_day() gives it). -#}
{% macro utc_day_start(day) -%}
timestamptz '{{ day }} 00:00:00+00'
{%- endmacro %}


{#- Writes the mart's days from rebuilt_from_day() on into `<location without .parquet>/`; what its view reads. -#}
{% macro write_partitioned_mart(location, columns, compiled_code, partitioning, scope_model) -%}
  {%- if scope_model is not none and ('model.' ~ model.package_name ~ '.' ~ scope_model) not in model.depends_on.nodes -%}
    {#- else dbt may build the mart before its scope, which would then be the last build's -#}
    {{ exceptions.raise_compiler_error("model " ~ model.name ~ " must name its rebuilt_from_scope as a dependency: -- depends_on: {{ ref('" ~ scope_model ~ "') }}") }}
  {%- endif -%}
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
    where {{ column }} >= {{ utc_day_start(from_day) }}
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
        select * exclude (partition_day) from {{ days_table }} where partition_day = '{{ day }}'
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
  {{ return(partitioned_mart_relation(directory, from_day)) }}
{%- endmacro %}


{#-
  The whole mart while the build runs: the committed set's days before `from_day` (those
  `clickintent build` carries over; the set's directory is in the build plan) and the days
  written into `directory`. Every day is in the directory once the set is committed, and
  clickintent points the view there.
-#}
{% macro partitioned_mart_relation(directory, from_day) -%}
  {%- set files = [] -%}
  {%- if from_day is not none -%}
    {%- set committed = build_plan_field('committed_marts') ~ '/' ~ directory.split('/')[-1] -%}
    {%- set query -%}
      select file from glob('{{ committed | replace("'", "''") }}/*.parquet')
      where split_part(parse_filename(file), '.', 1) < '{{ from_day }}'
      order by file
    {%- endset -%}
    {%- do files.extend(run_query(query).columns[0].values()) -%}
  {%- endif -%}
  {%- do files.append(directory ~ '/*.parquet') -%}
  read_parquet([{% for file in files %}'{{ file | replace("'", "''") }}'{% if not loop.last %}, {% endif %}{% endfor %}])
{%- endmacro %}


{#-
  What a generic data test reads of `relation` (dbt wraps every test's model in this macro): a
  partitioned mart's days written by this build, as the rest were tested when they were
  written; the test's own `where` config applies as in dbt's version.
-#}
{% macro duckdb__get_where_subquery(relation) -%}
  {%- set where = config.get('where', '') -%}
  {%- set conditions = [where] if where else [] -%}
  {%- if execute -%}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'model' and node.config.get('partition_by_day')
        and node.alias == relation.identifier and node.schema == relation.schema -%}
      {%- set from_day = rebuilt_from_day(node.config.get('rebuilt_from_scope'), relation) -%}
      {%- if from_day is not none -%}
        {%- do conditions.append(adapter.quote(node.config.get('partition_by_day')['column']) ~ ' >= ' ~ utc_day_start(from_day)) -%}
      {%- endif -%}
    {%- endfor -%}
  {%- endif -%}
  {%- if conditions | length == 0 -%}
    {{ return(relation) }}
  {%- endif -%}
  {{ return('(select * from ' ~ relation ~ ' where (' ~ conditions | join(') and (') ~ ')) dbt_subquery') }}
{%- endmacro %}


{#- clickintent.features.partitioned_marts.EMPTY_FILE: sorts after every day, and pyarrow reads it -#}
{% macro partitioned_mart_empty_file() -%}empty.parquet{%- endmacro %}
