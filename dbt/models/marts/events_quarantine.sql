with int_events_validated as (

    select * from {{ ref('int_events_validated') }}
    where quarantine_reason is not null

),

final as (

    select
        landing_event_id as event_id,
        landing_user_id as user_id,
        landing_session_id as session_id,
        landing_item_id as item_id,
        landing_event_type as event_type,
        event_timestamp,
        event_timestamp_raw,
        source_file,
        source_row,
        landing_file,
        landing_row,
        quarantine_reason,
        quarantine_detail,
        is_duplicate
    from int_events_validated

)

select * from final
