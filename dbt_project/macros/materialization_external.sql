{#-
  The `external` materialization, for this project's marts: the model's query is written
  straight to its Parquet file by one COPY, and a view over the file takes the model's name.

  Why not dbt-duckdb's own: it first creates the model as a table in the warehouse, counts its
  rows, then copies the table to the file. At 10M events that table write (compressing and
  checkpointing the session sequences' arrays into the DuckDB file) cost as much as computing
  them, for a table nobody reads. It also writes one all-NULL row for an empty result (so its
  view can infer types), which Feast would read as data; COPY of an empty result here writes
  an empty file with the right schema.

  Kept from dbt-duckdb's version: the location and write options (`external_root`, `format`,
  `options`), enforced contracts (the query's columns and types are checked against the yml
  before anything is written, and the file's columns follow the yml's order), hooks and docs.
  DuckDB's COPY writes a temporary file and renames it over the target, so a failing query
  leaves the previous file intact.

  dbt uses a project's own version of a built-in materialization only in the root project:
  as a package, this project's marts go through dbt-duckdb's version (the same rows, slower,
  and one file for the marts partitioned by day here: macros/partitioned_marts.sql).
-#}
{% materialization external, adapter="duckdb", supported_languages=['sql'] %}

  {%- set location = render(config.get('location', default=external_location(this, config))) -%}
  {%- set rendered_options = render_write_options(config) -%}
  {%- set write_options = adapter.external_write_options(location, rendered_options) -%}
  {%- set read_location = adapter.external_read_location(location, rendered_options) -%}
  {%- set format = rendered_options['format'] | lower -%}
  {%- if format != 'parquet' -%}
    {{ exceptions.raise_compiler_error("This project's external materialization writes Parquet only, got format " ~ format) }}
  {%- endif -%}

  {%- set target_relation = this.incorporate(type='view') -%}
  {%- set existing_relation = load_cached_relation(this) -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {%- set contract_config = config.get('contract') -%}
  {%- if contract_config.enforced -%}
    {{ get_assert_columns_equivalent(compiled_code) }}
    {%- set quoted = [] -%}
    {%- for column in model['columns'] -%}
      {%- do quoted.append(adapter.quote(column)) -%}
    {%- endfor -%}
    {%- set columns = quoted | join(', ') -%}
  {%- else -%}
    {%- set columns = '*' -%}
  {%- endif -%}

  {%- set partitioning = config.get('partition_by_day') -%}
  {%- if partitioning -%}
    {%- set read_relation = write_partitioned_mart(location, columns, compiled_code, partitioning, config.get('rebuilt_from_scope')) -%}
  {%- else -%}
    {%- set read_relation = "read_parquet('" ~ read_location ~ "')" -%}
    {% call statement('main') -%}
      copy (
        select {{ columns }} from (
          {{ compiled_code }}
        ) as model_subq
      ) to '{{ location }}' ({{ write_options }})
    {%- endcall %}
  {%- endif -%}

  {%- if existing_relation is not none and existing_relation.type != 'view' -%}
    {{ drop_relation_if_exists(existing_relation) }}
  {%- endif -%}
  {% call statement('create_view') -%}
    create or replace view {{ target_relation }} as (
      select * from {{ read_relation }}
    )
  {%- endcall %}

  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {% do persist_docs(target_relation, model) %}
  {{ adapter.commit() }}
  {{ run_hooks(post_hooks, inside_transaction=False) }}

  {{ return({'relations': [target_relation]}) }}

{% endmaterialization %}
