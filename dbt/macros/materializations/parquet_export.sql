{#-
  Two materializations that store a model as one Parquet file plus a view of the same name
  over it in the warehouse:

  - parquet_export: $RECSYS_DATA_DIR/exports/<name>.parquet, the marts Feast, training and
    the server read (docs/contracts.md);
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
  {{ env_var('RECSYS_DATA_DIR') | replace('\\', '/') }}/{{ folder }}/{{ identifier }}.parquet
{%- endmacro %}


{% macro write_parquet_view(location) %}
  {%- set existing_relation = load_cached_relation(this) -%}
  {%- set target_relation = this.incorporate(type='view') -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {% call statement('main') -%}
    copy ({{ compiled_code }}) to '{{ location }}' (format parquet)
  {%- endcall %}

  {% if existing_relation is not none and not existing_relation.is_view %}
    {{ drop_relation_if_exists(existing_relation) }}
  {% endif %}
  {% call statement('create_view') -%}
    create or replace view {{ target_relation }} as select * from read_parquet('{{ location }}')
  {%- endcall %}

  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {{ adapter.commit() }}
  {{ run_hooks(post_hooks, inside_transaction=False) }}

  {{ return({'relations': [target_relation]}) }}
{% endmacro %}


{% materialization parquet_export, adapter='duckdb' %}
  {{ return(write_parquet_view(parquet_location('exports', this.identifier))) }}
{% endmaterialization %}


{% materialization parquet_file, adapter='duckdb' %}
  {{ return(write_parquet_view(parquet_location('warehouse_files', this.identifier))) }}
{% endmaterialization %}
