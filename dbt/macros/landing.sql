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


{% macro landing_lines(location) %}
  {#-
    One row per non-empty line of the JSON-lines files at `location` (served events, the
    impression log): source_file, line, source_row (its true line number) and
    is_incomplete_line (the last line of a file that does not end in a newline: still being
    written). Lines are split by hand instead of read_json, so a malformed line still counts
    as a landing row. No files: an empty relation with the same columns.
  -#}
  {%- if landing_file_count(location) > 0 %}
    select
        parse_filename(file_lines.filename) as source_file,
        rtrim(file_lines.line, chr(13)) as line,
        file_lines.line_number as source_row,
        file_lines.line_number = file_lines.line_count
            and not file_lines.ends_with_newline as is_incomplete_line
    from (
        select
            filename,
            unnest(string_split(content, chr(10))) as line,
            unnest(range(1, len(string_split(content, chr(10))) + 1)) as line_number,
            len(string_split(content, chr(10))) as line_count,
            suffix(content, chr(10)) as ends_with_newline
        from read_text({{ location }})
    ) as file_lines
    where trim(file_lines.line) <> ''
  {%- else %}
    select
        cast(null as varchar) as source_file,
        cast(null as varchar) as line,
        cast(null as bigint) as source_row,
        cast(null as boolean) as is_incomplete_line
    where false
  {%- endif %}
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
