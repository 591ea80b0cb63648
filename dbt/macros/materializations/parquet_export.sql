{#-
  Two materializations that store a model as one Parquet file plus a view of the same name
  over it in the warehouse:

  - parquet_export: $RECSYS_DATA_DIR/exports/<name>.parquet, the marts Feast, training and
    the server read (docs/contracts.md); `recsys build` points RECSYS_EXPORTS_DIR at a new
    build folder and publishes it as a whole when the build passed (recsys/export_sets.py);
    each file carries the build id (RECSYS_EXPORTS_BUILD) in its Parquet footer;
  - parquet_file: $RECSYS_DATA_DIR/warehouse_files/<name>.parquet, large intermediate
    tables. Writing Parquet costs about half of what writing the same rows into DuckDB's own
    storage does, and nothing reads these files except through the warehouse views.

  Why not dbt-duckdb's `external` materialization: it first writes a full table into the
  warehouse (a second copy of every row) and, for an empty result, writes one all-NULL row into
  the file, which Feast would then load as an entity with a NULL key. COPY writes an empty
  file with the right schema instead, and DuckDB writes to a temporary file and renames it, so
  a reader never sees half a file.

  TIMESTAMPTZ columns come out as Parquet TIMESTAMP(isAdjustedToUTC, MICROS), which Arrow
  reads as timestamp[us, tz=UTC]; LIST columns as Parquet lists.
-#}

{% macro parquet_location(folder, identifier) -%}
  {%- if folder == 'exports' -%}
    {#- `recsys build` writes a new set into its own folder and publishes it when all passed
        (recsys/export_sets.py); a plain `dbt build` writes into exports/ directly. -#}
    {%- set root = env_var('RECSYS_EXPORTS_DIR', env_var('RECSYS_DATA_DIR') ~ '/exports') -%}
  {%- else -%}
    {%- set root = env_var('RECSYS_DATA_DIR') ~ '/' ~ folder -%}
  {%- endif -%}
  {{ root | replace('\\', '/') }}/{{ identifier }}.parquet
{%- endmacro %}


{% macro parquet_options(folder) -%}
  {#- Exports carry their build id in the footer so a reader can refuse a mixed set. -#}
  format parquet
  {%- if folder == 'exports' -%}
    , kv_metadata {recsys_build: '{{ env_var("RECSYS_EXPORTS_BUILD", "unpublished") }}'}
  {%- endif -%}
{%- endmacro %}


{% macro parquet_pre_hooks() %}
  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}
{% endmacro %}


{% macro parquet_write(location, folder) -%}
  {#- The body of the 'main' statement: SQL's COPY, or a Python model and its writer. -#}
  {%- if model.language == 'python' -%}
{{ compiled_code }}

def materialize(df, con):
    # The model's result (a DuckDB relation or an Arrow table) goes through the same COPY.
    name = "__recsys_python_model_{{ this.identifier }}"
    con.register(name, df)
    try:
        con.execute("copy (select * from " + name + ") to '{{ location }}' ({{ parquet_options(folder) }})")
    finally:
        con.unregister(name)
  {%- else -%}
    copy ({{ compiled_code }}) to '{{ location }}' ({{ parquet_options(folder) }})
  {%- endif -%}
{%- endmacro %}


{% macro parquet_view(location, options='', source=none) %}
  {#- A view over the Parquet file at `location`, or over the SQL `source` when given. -#}
  {%- set existing_relation = load_cached_relation(this) -%}
  {%- set target_relation = this.incorporate(type='view') -%}

  {% if existing_relation is not none and not existing_relation.is_view %}
    {{ drop_relation_if_exists(existing_relation) }}
  {% endif %}
  {% call statement('create_view') -%}
    create or replace view {{ target_relation }} as
    {%- if source is not none %}
      {{ source }}
    {%- else %}
      select * from read_parquet('{{ location }}'{{ ', ' ~ options if options }})
    {%- endif %}
  {%- endcall %}

  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {{ adapter.commit() }}
  {{ run_hooks(post_hooks, inside_transaction=False) }}

  {{ return({'relations': [target_relation]}) }}
{% endmacro %}


{#-
  Incremental models (config incremental_partition='<SQL expression>', e.g. a UTC day):
  the rows are stored as warehouse_files/<name>/_partition=<value>/rows0.parquet. A full
  build rewrites the folder (COPY ... OVERWRITE); an incremental build (is_incremental_build)
  writes only the partitions its query returns, replacing them whole, and leaves the others.
  So an incremental query must return every row of each partition it returns.
  A build that leaves no partition at all (no rows) reads as the query's columns and no rows
  (`partitioned_source`): a glob that matches no file is an error to DuckDB.

  Config incremental_rebuilt_from='<model>' (a one-row model whose first column is a
  partition value, or null): an incremental build rebuilds every partition from that value
  on, so one its query no longer returns (its rows moved to another partition or vanished)
  is emptied first: its files are overwritten with no rows. The query must then return all
  rows of the partitions from that value on.
-#}

{% macro partition_folder(identifier=none) -%}
  {{ parquet_location('warehouse_files', identifier or this.identifier) | replace('.parquet', '') }}
{%- endmacro %}


{% macro partition_glob(identifier=none) -%}
  {{ partition_folder(identifier) }}/*/*.parquet
{%- endmacro %}


{% macro partitioned_source() -%}
  {%- if landing_file_count("'" ~ partition_glob() ~ "'") > 0 -%}
    select * from read_parquet('{{ partition_glob() }}', hive_partitioning = false)
  {%- else -%}
    select * from ({{ compiled_code }}) limit 0
  {%- endif -%}
{%- endmacro %}


{% macro empty_partitions_from(model_name) %}
  {#- Overwrite the stored files of the partitions >= the model's value with no rows. -#}
  {%- set found = run_query('select * from ' ~ ref(model_name)) -%}
  {%- set first = found.rows[0][0] if found.rows | length > 0 else none -%}
  {%- if first is not none -%}
    {%- set files = run_query(
        "select file from glob('" ~ partition_folder() ~ "/_partition=*/*.parquet')"
    ) -%}
    {%- for row in files.rows -%}
      {%- set value = row[0].split('_partition=')[-1].split('/')[0] -%}
      {%- if value | int >= first | int -%}
        {% call statement('empty_partition') -%}
          copy (select * from ({{ compiled_code }}) limit 0)
            to '{{ row[0] | replace('\\', '/') }}' (format parquet)
        {%- endcall %}
      {%- endif -%}
    {%- endfor -%}
  {%- endif -%}
{% endmacro %}


{% macro parquet_partitioned_write(partition) %}
  {%- if is_incremental_build() and config.get('incremental_rebuilt_from') -%}
    {{ empty_partitions_from(config.get('incremental_rebuilt_from')) }}
  {%- endif -%}
  {% call statement('main') -%}
    copy (select *, {{ partition }} as _partition from ({{ compiled_code }}))
      to '{{ partition_folder() }}' (
        format parquet,
        partition_by (_partition),
        write_partition_columns false,
        filename_pattern 'rows',
        {{ 'overwrite_or_ignore' if is_incremental_build() else 'overwrite' }}
      )
  {%- endcall %}
{% endmacro %}


{% macro is_incremental_build(identifier=none) %}
  {{ return(adapter.dispatch('is_incremental_build', 'recsys')(identifier)) }}
{% endmacro %}


{% macro spark__is_incremental_build(identifier=none) %}
  {#- The spark target always builds in full (macros/materializations/spark_parquet.sql). -#}
  {{ return(false) }}
{% endmacro %}


{% macro default__is_incremental_build(identifier=none) %}
  {#-
    True when the runner asked for an incremental build (build_mode(),
    macros/build_settings.sql), dbt was not
    started with --full-refresh and this model already has stored partitions (a new model
    builds in full first).
  -#}
  {%- if not execute or build_mode() != 'incremental' or flags.FULL_REFRESH -%}
    {{ return(false) }}
  {%- endif -%}
  {{ return(landing_file_count("'" ~ partition_glob(identifier) ~ "'") > 0) }}
{% endmacro %}


{% macro incremental_since_day() -%}
  {#- The first UTC day number an incremental build recomputes (the runner passes it). -#}
  {%- set day = since_day_setting() -%}
  {%- if day is none -%}
    {{ exceptions.raise_compiler_error(
        "build_mode 'incremental' needs incremental_since_day (a UTC day number); "
        ~ "`recsys build` passes it, plain dbt users pass it with --vars or the environment "
        ~ "variable RECSYS_INCREMENTAL_SINCE_DAY"
    ) }}
  {%- endif -%}
  {{ day }}
{%- endmacro %}


{#-
  dbt runs a Python model only from a 'main' statement called in the materialization's own
  body, so both materializations spell out the same three steps.
-#}
{% materialization parquet_export, adapter='duckdb', supported_languages=['sql', 'python'] %}
  {%- set location = parquet_location('exports', this.identifier) -%}
  {{ parquet_pre_hooks() }}
  {%- if config.get('incremental_partition') -%}
    {#- Incremental: the rows live partitioned under warehouse_files/<name>/; the export is
        one COPY of them (readers keep one file per mart). -#}
    {{ parquet_partitioned_write(config.get('incremental_partition')) }}
    {% call statement('export') -%}
      copy ({{ partitioned_source() }}) to '{{ location }}' ({{ parquet_options('exports') }})
    {%- endcall %}
  {%- else -%}
  {% call statement('main', language=model.language) -%}
    {{ parquet_write(location, 'exports') }}
  {%- endcall %}
  {%- endif -%}
  {{ return(parquet_view(location)) }}
{% endmaterialization %}


{% materialization parquet_file, adapter='duckdb', supported_languages=['sql', 'python'] %}
  {%- set location = parquet_location('warehouse_files', this.identifier) -%}
  {{ parquet_pre_hooks() }}
  {%- if config.get('incremental_partition') -%}
    {{ parquet_partitioned_write(config.get('incremental_partition')) }}
    {{ return(parquet_view(none, source=partitioned_source())) }}
  {%- else -%}
  {% call statement('main', language=model.language) -%}
    {{ parquet_write(location, 'warehouse_files') }}
  {%- endcall %}
  {{ return(parquet_view(location)) }}
  {%- endif -%}
{% endmaterialization %}
