{#-
  Incremental builds (docs/incremental.md). The models whose work grows with the events
  (int_events_sessionized, int_page_titles, int_sessions) are incremental
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
       visitor's earlier sessions as they were (the incremental strategy `scope` below).

  Which files are new is the caller's to say: `clickintent build` compares the raw event files
  with those its last successful build read (clickintent.features.incremental) and names the
  new ones in the file var clickintent_build_plan points at (new_event_files()), or runs a full
  refresh (--full-refresh) when a file it read changed or the build's settings, taxonomy or
  models did. Spark builds every model in full (docs/spark.md).
-#}

{#- `incremental` on DuckDB; a table elsewhere (dbt-spark's Parquet tables take no delete+insert). -#}
{% macro incremental_on_duckdb() -%}
  {{ return('incremental' if target.type == 'duckdb' else 'table') }}
{%- endmacro %}


{#-
  The raw event files `clickintent build` names as new, or none when this is no incremental
  build's: the JSON file var clickintent_build_plan names ({"new_event_files": [...]}, null in a
  full build). A file rather than the list itself: dbt parses the whole project again whenever
  its vars change, and the list changes with every build (a parse costs seconds; the var's value,
  a path per data directory, does not change).
-#}
{% macro new_event_files() -%}
  {%- set plan = var('clickintent_build_plan', none) -%}
  {%- if plan is none or not execute -%}
    {{ return(none) }}
  {%- endif -%}
  {#- one query (a build asks for it some 50 times): the list as JSON text, null in a full build -#}
  {%- set files = run_query("select cast(to_json(new_event_files) as varchar) from read_json('" ~ plan ~ "', columns = {new_event_files: 'VARCHAR[]'})").columns[0].values()[0] -%}
  {{ return(none if files is none else fromjson(files)) }}
{%- endmacro %}


{#- A text field of the build plan (see new_event_files()); none without a plan. -#}
{% macro build_plan_field(name) -%}
  {%- set plan = var('clickintent_build_plan', none) -%}
  {%- if plan is none or not execute -%}
    {{ return(none) }}
  {%- endif -%}
  {{ return(run_query("select " ~ name ~ " from read_json('" ~ plan ~ "', columns = {" ~ name ~ ": 'VARCHAR'})").columns[0].values()[0]) }}
{%- endmacro %}


{#- The new raw events: the files `clickintent build` names, read as one relation (none: no rows). -#}
{% macro new_raw_events() -%}
  {%- set files = new_event_files() or [] -%}
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
  Whether this invocation builds incrementally: on DuckDB, without --full-refresh, with the
  tables built before there, over the contract's raw event files, and told which are new
  (new_event_files()). Otherwise every model builds from all the events; an
  incremental model that exists is emptied first (clear_unless_incremental_build), so a plain
  `dbt build`, or a host project using this one as a package, rebuilds in full. `beside`: a
  relation in the schema of the models (a data test's own relation is elsewhere); default this.
-#}
{% macro incremental_build(beside=none) -%}
  {%- set beside = beside or this -%}
  {%- if not execute or target.type != 'duckdb' or flags.FULL_REFRESH -%}
    {{ return(false) }}
  {%- endif -%}
  {%- if var('source_shape', 'contract') != 'contract' or new_event_files() is none -%}
    {{ return(false) }}
  {%- endif -%}
  {%- for name in ['int_events_sessionized', 'int_sessions', 'int_page_mapping_built', 'int_visitor_journeys', 'int_customer_app_intent', 'int_anonymous_session_outcomes', 'int_outcome_inputs_built', 'int_input_days_built'] -%}
    {%- if adapter.get_relation(beside.database, beside.schema, name) is none -%}
      {{ return(false) }}
    {%- endif -%}
  {%- endfor -%}
  {{ return(true) }}
{%- endmacro %}


{#-
  Each page's place in the taxonomy as the session models use it: its node, top node, whether
  it exists, its top node's position in dim_taxonomy_top_nodes, and how many top nodes there are
  (the length of every top_node_events list).
-#}
{% macro page_mapping() -%}
    select
        pages.page_path,
        pages.taxonomy_node_id,
        pages.top_taxonomy_node_id,
        pages.is_unknown_page,
        top_nodes.top_node_position,
        (select count(*) from {{ ref('dim_taxonomy_top_nodes') }}) as n_top_nodes
    from {{ ref('int_page_taxonomy') }} as pages
    left join {{ ref('dim_taxonomy_top_nodes') }} as top_nodes on pages.top_taxonomy_node_id = top_nodes.top_taxonomy_node_id
{%- endmacro %}


{#-
  Whether a page the session models were built with maps differently now (int_page_mapping_built,
  the last build's, against page_mapping()): a page seen before under error titles only now shown
  with a real title, or a new URL section that adds a top node and so shifts or lengthens every
  session's top_node_events. Then every session is built again. A new taxonomy page map makes
  `clickintent build` rebuild in full before it gets here (features.incremental).
-#}
{% macro page_mapping_changed() -%}
  {%- if not execute -%}
    {{ return(false) }}
  {%- endif -%}
  {%- set built = adapter.get_relation(this.database, this.schema, 'int_page_mapping_built') -%}
  {%- set query -%}
    with now_mapping as ({{ page_mapping() }})
    select count(*) from {{ built }} as built
    left join now_mapping on built.page_path is not distinct from now_mapping.page_path
    where now_mapping.n_top_nodes is null
        or built.taxonomy_node_id is distinct from now_mapping.taxonomy_node_id
        or built.top_taxonomy_node_id is distinct from now_mapping.top_taxonomy_node_id
        or built.is_unknown_page is distinct from now_mapping.is_unknown_page
        or built.top_node_position is distinct from now_mapping.top_node_position
        or built.n_top_nodes <> now_mapping.n_top_nodes
  {%- endset -%}
  {{ return(run_query(query).columns[0].values()[0] > 0) }}
{%- endmacro %}


{#-
  The incremental strategy of the scoped models (incremental_strategy='scope'): delete each
  scoped entity's rows from its scope's start, insert the rows built again. dbt's delete+insert
  replaces by key, so it would keep a session the new events merged into another (its key is in
  no new row) unless every earlier session of the visitor were copied in again.

  The model's config `scope` names the scope model and the columns, by default the visitors'
  (int_sessionization_scope; the rows' visitor_key, from session_start_us):
    {'model': 'int_customer_app_scope', 'key': 'customer_id', 'from': 'as_of_us'}
  The scope model holds the key column and scope_start_us; without a key, one row whose
  scope_start_us holds for every row.
-#}
{% macro get_incremental_scope_sql(arg_dict) -%}
    {%- set scope = config.get('scope') or {'model': 'int_sessionization_scope', 'key': 'visitor_key', 'from': 'session_start_us'} -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ arg_dict['target_relation'] }} as built
    using {{ ref(scope['model']) }} as scope
    where {% if scope.get('key') %}built.{{ scope['key'] }} = scope.{{ scope['key'] }} and {% endif -%}
        built.{{ scope['from'] }} >= scope.scope_start_us;

    insert into {{ arg_dict['target_relation'] }} ({{ columns }})
    select {{ columns }} from {{ arg_dict['temp_relation'] }}
{%- endmacro %}


{#-
  The events the session models read, as two CTEs (ending with a comma): `events_name`, the
  events as stg_events stages them, and `sessionized`, their sessions. In an incremental build
  only the scoped visitors' events from their scope's start (the raw partitions from the
  scope's first day on), with the CTE `scope` before them; otherwise every event.
-#}
{% macro session_model_events(events_name) -%}
{%- if is_incremental() and incremental_build() -%}
scope as (

    select * from {{ ref('int_sessionization_scope') }}

),

{{ events_name }} as (

    select * from {{ staged_events(raw_events_since(scope_first_day())) }} as events

),

sessionized as (

    select sessionized.*
    from {{ ref('int_events_sessionized') }} as sessionized
    inner join scope on sessionized.visitor_key = scope.visitor_key and sessionized.session_start_us >= scope.scope_start_us

),
{%- else -%}
{{ session_events_from_day(events_name, none) }}
{%- endif %}
{%- endmacro %}


{#-
  The events of the sessions from UTC day `from_day` on, as two CTEs like session_model_events'
  (the raw partitions from that day on, and their sessions), for a mart partitioned by day
  (rebuilt_from_day()); every event when from_day is none.
-#}
{% macro session_events_from_day(events_name, from_day) -%}
{%- if from_day is none -%}
{{ events_name }} as (

    select * from {{ ref('stg_events') }}

),

sessionized as (

    select * from {{ ref('int_events_sessionized') }}

),
{%- else -%}
{{ events_name }} as (

    select * from {{ staged_events(raw_events_since(from_day)) }} as events

),

sessionized as (

    select * from {{ ref('int_events_sessionized') }}
    where session_start_us >= {{ epoch_us(utc_day_start(from_day)) }}

),
{%- endif %}
{%- endmacro %}


{#- An incremental model's pre-hook: empty the table when this build is not incremental, so that
    its full SQL replaces every row (dbt's delete+insert alone would keep rows of keys gone). -#}
{% macro clear_unless_incremental_build() -%}
  {%- if is_incremental() and not incremental_build() -%}
    delete from {{ this }}
  {%- endif -%}
{%- endmacro %}


{#- The UTC day of the earliest scope start (None: an empty scope), read at run time. -#}
{% macro scope_first_day() -%}
  {%- if not execute -%}
    {{ return(none) }}
  {%- endif -%}
  {%- set first = run_query("select cast(make_timestamp(min(scope_start_us)) as date) from " ~ ref('int_sessionization_scope')).columns[0].values()[0] -%}
  {{ return(none if first is none else first | string) }}
{%- endmacro %}
