{#-
  Reading the landing area robustly. Loaders write the canonical columns of docs/contracts.md,
  but optional files (items, users, served events) may be absent and a hand-made or older file
  may lack a column: staging then selects a typed NULL instead of failing, so an event-only log
  still builds. Everything here runs at execution time only; while parsing, dbt sees the full
  column list.
-#}

{% macro landing_file_count(location) %}
  {#- Number of files matching `location` (a quoted path or glob, as a landing source renders). -#}
  {%- if not execute -%}
    {{ return(1) }}
  {%- endif -%}
  {%- set result = run_query("select count(*) from glob(" ~ location ~ ")") -%}
  {{ return(result.columns[0].values()[0] | int) }}
{% endmacro %}


{% macro landing_files(location) %}
  {#- The files matching `location`, sorted; while parsing, one placeholder path. -#}
  {%- if not execute -%}
    {{ return(['landing-file-placeholder.parquet']) }}
  {%- endif -%}
  {%- set result = run_query("select file from glob(" ~ location ~ ") order by file") -%}
  {{ return(result.columns[0].values() | list) }}
{% endmacro %}


{% macro landing_columns(reader_sql) %}
  {#- Map column name (lower case) -> DuckDB type of what `reader_sql` returns. -#}
  {%- if not execute -%}
    {{ return({}) }}
  {%- endif -%}
  {%- set result = run_query("describe select * from " ~ reader_sql) -%}
  {%- set columns = {} -%}
  {%- for row in result.rows -%}
    {%- do columns.update({row[0] | lower: row[1] | upper}) -%}
  {%- endfor -%}
  {{ return(columns) }}
{% endmacro %}


{% macro landing_column(columns, name, data_type, location, when_absent='null') %}
  {#-
    Select landing column `name` as `data_type`; when the file lacks the column, select
    `when_absent` (a typed NULL unless given). Ids are read as text whatever the loader wrote
    (an integer id becomes its digits).
  -#}
  {%- if execute and name not in columns -%}
    cast({{ when_absent }} as {{ data_type }})
  {%- elif data_type | lower == 'timestamptz' -%}
    {%- set found = columns.get(name, 'TIMESTAMP WITH TIME ZONE') -%}
    {%- if not (found.startswith('TIMESTAMP') or found == 'VARCHAR') -%}
      {{ exceptions.raise_compiler_error(
          location ~ ": column " ~ name ~ " should be timestamp[us, tz=UTC] (or ISO-8601 text), "
          ~ "found DuckDB type " ~ found ~ "; fix the loader to write it as docs/contracts.md says"
      ) }}
    {%- endif -%}
    try_cast("{{ name }}" as timestamptz)
  {%- else -%}
    try_cast("{{ name }}" as {{ data_type }})
  {%- endif -%}
{% endmacro %}


{% macro require_landing_files(location, how_to_fix) %}
  {#- Stop the build with a message that names the missing files and how to create them. -#}
  {%- if landing_file_count(location) == 0 -%}
    {{ exceptions.raise_compiler_error(
        "no landing files match " ~ location ~ ": expected at least one; " ~ how_to_fix
    ) }}
  {%- endif -%}
{% endmacro %}
