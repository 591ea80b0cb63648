{#-
  One row per non-empty line of landing/served/*.jsonl. Lines are split by hand
  (landing_lines) instead of read_json, so a malformed line still counts as a landing row (it
  is quarantined downstream, never silently skipped) and source_row is its true line number.
-#}

with source as (

    {{ landing_lines(source('landing', 'served_events')) }}

),

renamed as (

    select
        {%- for key in ['event_id', 'user_id', 'session_id', 'item_id', 'event_type'] %}
        case when {{ json_is_valid('line') }} then {{ json_text('line', '$.' ~ key) }} end as {{ key }},
        {%- endfor %}
        try_cast(
            case when {{ json_is_valid('line') }} then {{ json_text('line', '$.event_timestamp') }} end
            as {{ sql_type('timestamptz') }}
        ) as event_timestamp,
        case
            when {{ json_is_valid('line') }} then {{ json_text('line', '$.event_timestamp') }}
            else line
        end as event_timestamp_raw,
        source_file,
        source_row,
        'served/' || source_file as landing_file,
        source_row as landing_row,
        try_cast(
            case when {{ json_is_valid('line') }} then {{ json_text('line', '$.received_at') }} end
            as {{ sql_type('timestamptz') }}
        ) as received_at,
        -- The answer the event responds to (optional): fct_recommendation_outcomes joins on it.
        case when {{ json_is_valid('line') }} then {{ json_text('line', '$.request_id') }} end
            as request_id
    from source

)

select * from renamed
