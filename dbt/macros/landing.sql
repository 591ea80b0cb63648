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


{% macro landing_event_rows(paths) %}
  {#-
    The landing event files `paths`, each read on its own and typed as the contract says
    (stg_landing__events reads them all; an incremental int_events_validated only new ones).
    No paths: an empty relation with the same columns.
  -#}
  {%- if paths | length == 0 %}
    select
        cast(null as varchar) as event_id, cast(null as varchar) as user_id,
        cast(null as varchar) as session_id, cast(null as varchar) as item_id,
        cast(null as varchar) as event_type, cast(null as timestamptz) as event_timestamp,
        cast(null as varchar) as event_timestamp_raw, cast(null as varchar) as source_file,
        cast(null as bigint) as source_row, cast(null as varchar) as landing_file,
        cast(null as bigint) as landing_row
    where false
  {%- else %}
  with source as (

      {%- for path in paths %}
      {%- set file_name = path.replace('\\', '/').split('/')[-1] %}
      {%- set reader = "read_parquet('" ~ path.replace("'", "''") ~ "', file_row_number = true)" %}
      {%- set columns = landing_columns(reader) %}
      select
          {{ landing_column(columns, 'event_id', 'varchar', path) }} as event_id,
          -- The contract's defaults for a source without the column: each session is its own
          -- anonymous user, and every event is a view.
          {{ landing_column(columns, 'user_id', 'varchar', path,
              when_absent=landing_column(columns, 'session_id', 'varchar', path)) }} as user_id,
          {{ landing_column(columns, 'session_id', 'varchar', path) }} as session_id,
          {{ landing_column(columns, 'item_id', 'varchar', path) }} as item_id,
          {{ landing_column(columns, 'event_type', 'varchar', path, when_absent="'view'") }}
              as event_type,
          {{ landing_column(columns, 'event_timestamp', 'timestamptz', path) }} as event_timestamp,
          {{ landing_column(columns, 'event_timestamp_raw', 'varchar', path) }}
              as event_timestamp_raw,
          {{ landing_column(columns, 'source_file', 'varchar', path,
              when_absent="'" ~ file_name.replace("'", "''") ~ "'") }} as source_file,
          {{ landing_column(columns, 'source_row', 'bigint', path,
              when_absent='file_row_number + 1') }} as source_row,
          'events/{{ file_name.replace("'", "''") }}' as landing_file,
          file_row_number + 1 as landing_row
      from {{ reader }}
      {%- if not loop.last %}
      union all
      {%- endif %}
      {%- endfor %}

  ),

  renamed as (

      select
          event_id,
          user_id,
          session_id,
          item_id,
          event_type,
          event_timestamp,
          event_timestamp_raw,
          coalesce(source_file, replace(landing_file, 'events/', '')) as source_file,
          coalesce(source_row, landing_row) as source_row,
          landing_file,
          landing_row
      from source

  )

  select * from renamed
  {%- endif %}
{% endmacro %}


{% macro landing_loads(location, folder) %}
  {#-
    Map landing_file ('<folder>/<name>', as staging writes it) -> load id (name, size and
    modification time): a file that is replaced or appended to gets a new load id, so an
    incremental build reads it again. read_blob reads no content unless asked for it.
  -#}
  {%- set loads = {} -%}
  {%- if not execute or landing_file_count(location) == 0 -%}
    {{ return(loads) }}
  {%- endif -%}
  {%- set result = run_query(
      "select parse_filename(filename), size, epoch_us(last_modified) from read_blob("
      ~ location ~ ")"
  ) -%}
  {%- for row in result.rows -%}
    {%- do loads.update({folder ~ '/' ~ row[0]: folder ~ '/' ~ row[0] ~ ':' ~ row[1] ~ ':' ~ row[2]}) -%}
  {%- endfor -%}
  {{ return(loads) }}
{% endmacro %}


{% macro sql_strings(values) -%}
  {#- Quoted SQL string literals for an IN list; an empty list gives '' (no landing file). -#}
  {%- for value in values -%}
    '{{ value | replace("'", "''") }}'{{ ', ' if not loop.last }}
  {%- else -%}
    ''
  {%- endfor -%}
{%- endmacro %}
