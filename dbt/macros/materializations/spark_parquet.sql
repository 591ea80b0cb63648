{#-
  The Spark target's versions of parquet_export and parquet_file (parquet_export.sql has the
  DuckDB ones). Spark writes a model as a folder of Parquet part files, so each model is a
  table over $RECSYS_DATA_DIR/spark_files/<folder>/<name>/; `recsys build --target spark`
  empties spark_files/ first (a Spark build is always a full build: no stored partitions to
  keep) and afterwards rewrites each exports/<name>/ folder as the one
  exports/<name>.parquet file, with its build id in the footer, that Feast, training and the
  server read (recsys/pipeline/spark_build.py).

  incremental_partition is ignored here: is_incremental_build() is false on Spark.
-#}

{% macro spark_parquet_folder(folder, identifier) -%}
  {{ env_var('RECSYS_DATA_DIR') | replace('\\', '/') }}/spark_files/{{ folder }}/{{ identifier }}
{%- endmacro %}


{% macro spark_parquet_table(folder) %}
  {%- set location = spark_parquet_folder(folder, this.identifier) -%}
  {%- set target_relation = this.incorporate(type='table') -%}
  {{ run_hooks(pre_hooks) }}
  {% call statement('drop') -%}
    drop table if exists {{ target_relation }}
  {%- endcall %}
  {% call statement('main') -%}
    create table {{ target_relation }} using parquet location '{{ location }}' as
    {{ compiled_code }}
  {%- endcall %}
  {{ run_hooks(post_hooks) }}
  {{ return({'relations': [target_relation]}) }}
{% endmacro %}


{% materialization parquet_export, adapter='spark' %}
  {{ return(spark_parquet_table('exports')) }}
{% endmaterialization %}


{% materialization parquet_file, adapter='spark' %}
  {{ return(spark_parquet_table('warehouse_files')) }}
{% endmaterialization %}
