{#-
  One row per row of landing/events/*.parquet, typed as the contract says; nothing dropped.
  Each file is read on its own, so a file that lacks a column gets that column's default
  (its own rows only) even when other files have it.
-#}
{%- set location = source('landing', 'events') -%}
{%- do require_landing_files(
    location,
    "load events first, e.g. `recsys ingest generate --events 100000`"
) -%}

with source as (

    {%- for path in landing_files(location) %}
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
