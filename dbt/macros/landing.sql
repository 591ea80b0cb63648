{#-
  Reading the landing area robustly. Loaders write the canonical columns of docs/contracts.md,
  but optional files (items, users, served events) may be absent and a hand-made or older file
  may lack a column: staging then selects a typed NULL instead of failing, so an event-only log
  still builds. Everything here runs at execution time only; while parsing, dbt sees the full
  column list.
-#}

{% macro default__landing_file_count(location) %}
  {#- Number of files matching `location` (a quoted path or glob, as a landing source renders). -#}
  {%- if not execute -%}
    {{ return(1) }}
  {%- endif -%}
  {%- set result = run_query("select count(*) from glob(" ~ location ~ ")") -%}
  {{ return(result.columns[0].values()[0] | int) }}
{% endmacro %}


{% macro default__landing_lines(location) %}
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
        cast(null as {{ sql_type('varchar') }}) as source_file,
        cast(null as {{ sql_type('varchar') }}) as line,
        cast(null as bigint) as source_row,
        cast(null as boolean) as is_incomplete_line
    where false
  {%- endif %}
{% endmacro %}


{% macro default__landing_files(location) %}
  {#- The files matching `location`, sorted; while parsing, one placeholder path. -#}
  {%- if not execute -%}
    {{ return(['landing-file-placeholder.parquet']) }}
  {%- endif -%}
  {%- set result = run_query("select file from glob(" ~ location ~ ") order by file") -%}
  {{ return(result.columns[0].values() | list) }}
{% endmacro %}


{% macro default__landing_columns(reader_sql) %}
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
    cast({{ when_absent }} as {{ sql_type(data_type) }})
  {%- elif data_type | lower == 'timestamptz' -%}
    {%- set found = columns.get(name, 'TIMESTAMP WITH TIME ZONE') -%}
    {%- if not (found.startswith('TIMESTAMP') or found in ('VARCHAR', 'STRING')) -%}
      {{ exceptions.raise_compiler_error(
          location ~ ": column " ~ name ~ " should be timestamp[us, tz=UTC] (or ISO-8601 text), "
          ~ "found DuckDB type " ~ found ~ "; fix the loader to write it as docs/contracts.md says"
      ) }}
    {%- endif -%}
    try_cast({{ adapter.quote(name) }} as {{ sql_type('timestamptz') }})
  {%- else -%}
    try_cast({{ adapter.quote(name) }} as {{ sql_type(data_type) }})
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
        cast(null as {{ sql_type('varchar') }}) as event_id, cast(null as {{ sql_type('varchar') }}) as user_id,
        cast(null as {{ sql_type('varchar') }}) as session_id, cast(null as {{ sql_type('varchar') }}) as item_id,
        cast(null as {{ sql_type('varchar') }}) as event_type, cast(null as {{ sql_type('timestamptz') }}) as event_timestamp,
        cast(null as {{ sql_type('varchar') }}) as event_timestamp_raw, cast(null as {{ sql_type('varchar') }}) as source_file,
        cast(null as bigint) as source_row, cast(null as {{ sql_type('varchar') }}) as landing_file,
        cast(null as bigint) as landing_row
    where false
  {%- else %}
  with source as (

      {%- for path in paths %}
      {%- set file_name = path.replace('\\', '/').split('/')[-1] %}
      {%- set reader = landing_parquet_reader(path) %}
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


{% macro default__landing_loads(location, folder) %}
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


{#-
  Dispatch: the DuckDB versions above list and read files with glob(), read_text() and
  read_blob(); Spark SQL has no function that lists files (a glob that matches nothing is an
  error), so on Spark the runner passes the files of each landing source as var
  spark_landing_files (recsys/pipeline/spark_build.py) and the readers are Spark's file
  sources: parquet.`path` with its _metadata columns, binaryFile.`glob` for whole files.
-#}

{% macro landing_file_count(location) %}
  {{ return(adapter.dispatch('landing_file_count', 'recsys')(location)) }}
{% endmacro %}

{% macro landing_files(location) %}
  {{ return(adapter.dispatch('landing_files', 'recsys')(location)) }}
{% endmacro %}

{% macro landing_columns(reader_sql) %}
  {{ return(adapter.dispatch('landing_columns', 'recsys')(reader_sql)) }}
{% endmacro %}

{% macro landing_lines(location) %}
  {{ return(adapter.dispatch('landing_lines', 'recsys')(location)) }}
{% endmacro %}

{% macro landing_loads(location, folder) %}
  {{ return(adapter.dispatch('landing_loads', 'recsys')(location, folder)) }}
{% endmacro %}


{% macro landing_parquet_reader(path) -%}
  {#- One landing Parquet file with its 0-based row number as file_row_number. -#}
  {{ return(adapter.dispatch('landing_parquet_reader', 'recsys')(path)) }}
{%- endmacro %}

{% macro default__landing_parquet_reader(path) -%}
  read_parquet('{{ path.replace("'", "''") }}', file_row_number = true)
{%- endmacro %}

{% macro spark__landing_parquet_reader(path) -%}
  (select *, _metadata.row_index as file_row_number from parquet.`{{ path }}`)
{%- endmacro %}


{% macro landing_table_reader(location) -%}
  {#- All files of a one-table source (items, users), by column name, with `filename`. -#}
  {{ return(adapter.dispatch('landing_table_reader', 'recsys')(location)) }}
{%- endmacro %}

{% macro default__landing_table_reader(location) -%}
  read_parquet({{ location }}, union_by_name = true, filename = true)
{%- endmacro %}

{% macro spark__landing_table_reader(location) -%}
  (
    {%- for path in landing_files(location) %}
    select *, _metadata.file_path as filename from parquet.`{{ path }}`
    {%- if not loop.last %} union all {% endif -%}
    {%- endfor %}
  )
{%- endmacro %}


{% macro landing_file_name(path) -%}
  {#- The file name of a path (parse_filename). -#}
  {{ return(adapter.dispatch('landing_file_name', 'recsys')(path)) }}
{%- endmacro %}

{% macro default__landing_file_name(path) -%}parse_filename({{ path }}){%- endmacro %}

{% macro spark__landing_file_name(path) -%}regexp_extract({{ path }}, '[^/]*$', 0){%- endmacro %}


{% macro spark_landing_paths(location) %}
  {#- The runner's list of the files of a landing source (a source relation on Spark). -#}
  {%- if not execute -%}
    {{ return(['landing-file-placeholder.parquet']) }}
  {%- endif -%}
  {%- set known = var('spark_landing_files', none) -%}
  {%- if known is none -%}
    {{ exceptions.raise_compiler_error(
        "the spark target needs var spark_landing_files (the landing files of each source); "
        ~ "build with `recsys build --target spark`, which passes it"
    ) }}
  {%- endif -%}
  {{ return(known.get(location.identifier, [])) }}
{% endmacro %}

{% macro spark__landing_file_count(location) %}
  {{ return(spark_landing_paths(location) | length) }}
{% endmacro %}

{% macro spark__landing_files(location) %}
  {{ return(spark_landing_paths(location) | sort) }}
{% endmacro %}

{% macro spark__landing_columns(reader_sql) %}
  {%- if not execute -%}
    {{ return({}) }}
  {%- endif -%}
  {%- set result = run_query("describe query select * from " ~ reader_sql) -%}
  {%- set columns = {} -%}
  {%- for row in result.rows -%}
    {%- do columns.update({row[0] | lower: row[1] | upper}) -%}
  {%- endfor -%}
  {{ return(columns) }}
{% endmacro %}

{% macro spark_landing_glob(location) -%}
  {#- The source's files as one Spark path (a comma-free glob of the listed files). -#}
  {{ spark_landing_paths(location) | join(',') }}
{%- endmacro %}

{% macro spark__landing_lines(location) %}
  {%- set paths = spark_landing_paths(location) -%}
  {%- if paths | length > 0 %}
    select
        {{ landing_file_name('file_lines.path') }} as source_file,
        regexp_replace(file_lines.line, '\\r$', '') as line,
        cast(file_lines.line_index + 1 as bigint) as source_row,
        file_lines.line_index + 1 = file_lines.line_count
            and not file_lines.ends_with_newline as is_incomplete_line
    from (
        select path, line_index, line, size(lines) as line_count, ends_with_newline
        from (
            select
                path,
                split(cast(content as string), '\\n', -1) as lines,
                endswith(cast(content as string), chr(10)) as ends_with_newline
            from (
                {%- for path in paths %}
                select path, content from binaryFile.`{{ path }}`
                {%- if not loop.last %} union all {% endif -%}
                {%- endfor %}
            )
        )
        lateral view posexplode(lines) exploded as line_index, line
    ) as file_lines
    where trim(file_lines.line) <> ''
  {%- else %}
    select
        cast(null as string) as source_file,
        cast(null as string) as line,
        cast(null as bigint) as source_row,
        cast(null as boolean) as is_incomplete_line
    where false
  {%- endif %}
{% endmacro %}

{% macro spark__landing_loads(location, folder) %}
  {%- set loads = {} -%}
  {%- if not execute or landing_file_count(location) == 0 -%}
    {{ return(loads) }}
  {%- endif -%}
  {%- set union -%}
    {%- for path in spark_landing_paths(location) -%}
    select path, length, modificationTime from binaryFile.`{{ path }}`
    {%- if not loop.last %} union all {% endif -%}
    {%- endfor -%}
  {%- endset -%}
  {%- set result = run_query(
      "select " ~ landing_file_name('path') ~ ", length, unix_micros(modificationTime) from ("
      ~ union ~ ")"
  ) -%}
  {%- for row in result.rows -%}
    {%- do loads.update({folder ~ '/' ~ row[0]: folder ~ '/' ~ row[0] ~ ':' ~ row[1] ~ ':' ~ row[2]}) -%}
  {%- endfor -%}
  {{ return(loads) }}
{% endmacro %}
