{#-
  One row per non-empty line of landing/served/*.jsonl. Lines are split by hand instead of
  read_json so a malformed line still counts as a landing row (it is quarantined downstream,
  never silently skipped) and source_row is its true line number.
-#}
{%- set location = source('landing', 'served_events') -%}
{%- set has_files = landing_file_count(location) > 0 -%}

with source as (

    {%- if has_files %}
    select
        parse_filename(file_lines.filename) as source_file,
        rtrim(file_lines.line, chr(13)) as line,
        file_lines.line_number as source_row
    from (
        select
            filename,
            unnest(string_split(content, chr(10))) as line,
            unnest(range(1, len(string_split(content, chr(10))) + 1)) as line_number
        from read_text({{ location }})
    ) as file_lines
    where trim(file_lines.line) <> ''
    {%- else %}
    -- No served events yet: an empty relation with the same columns.
    select
        cast(null as varchar) as source_file,
        cast(null as varchar) as line,
        cast(null as bigint) as source_row
    where false
    {%- endif %}

),

renamed as (

    select
        {%- for key in ['event_id', 'user_id', 'session_id', 'item_id', 'event_type'] %}
        case when json_valid(line) then json_extract_string(line, '$.{{ key }}') end as {{ key }},
        {%- endfor %}
        try_cast(
            case when json_valid(line) then json_extract_string(line, '$.event_timestamp') end
            as timestamptz
        ) as event_timestamp,
        case
            when json_valid(line) then json_extract_string(line, '$.event_timestamp')
            else line
        end as event_timestamp_raw,
        source_file,
        source_row,
        'served/' || source_file as landing_file,
        source_row as landing_row,
        try_cast(
            case when json_valid(line) then json_extract_string(line, '$.received_at') end
            as timestamptz
        ) as received_at,
        -- The answer the event responds to (optional): fct_recommendation_outcomes joins on it.
        case when json_valid(line) then json_extract_string(line, '$.request_id') end
            as request_id
    from source

)

select * from renamed
