{{ config(tags=['monitoring'], enabled=target.type == 'duckdb') }}
{#-
  One row per non-empty line of landing/impressions/*.jsonl (the server's impression log, one
  line per answered GET /recommendations). Lines are split by hand, as for served events, so a
  malformed line still counts (int_impressions_validated quarantines it) and source_row is its
  true line number. A file whose content does not end in a newline is being written: its last
  line is flagged is_incomplete_line, so it is reported as such and read complete next time.
-#}

with source as (

    {{ landing_lines(source('landing', 'impressions')) }}

),

parsed as (

    select
        *,
        case when json_valid(line) then cast(line as json) end as record
    from source

),

renamed as (

    select
        json_extract_string(record, '$.request_id') as request_id,
        try_cast(json_extract_string(record, '$.served_at') as {{ sql_type('timestamptz') }}) as served_at,
        json_extract_string(record, '$.served_at') as served_at_raw,
        json_extract_string(record, '$.user_id') as user_id,
        json_extract_string(record, '$.session_id') as session_id,
        json_extract_string(record, '$.model_version') as model_version,
        try_cast(json_extract(record, '$.degraded') as boolean) as is_degraded,
        json_extract_string(record, '$.reason') as degraded_reason,
        try_cast(json_extract(record, '$.k') as integer) as k,
        try_cast(json_extract(record, '$.candidate_count') as integer) as candidate_count,
        json_extract(record, '$.timings_ms') as timings_ms,
        json_extract(record, '$.items') as items,
        json_extract(record, '$.features') as features,
        record is not null and json_type(record) = 'OBJECT' as is_json_object,
        is_incomplete_line,
        case when record is null then left(line, 200) end as line_raw,
        source_file,
        source_row,
        'impressions/' || source_file as landing_file,
        source_row as landing_row
    from parsed

)

select * from renamed
