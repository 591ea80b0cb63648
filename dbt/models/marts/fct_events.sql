{{ config(materialized='parquet_export') }}

with int_events_sessionized as (

    select * from {{ ref('int_events_sessionized') }}

),

int_items_deduplicated as (

    select item_id, category, price from {{ ref('int_items_deduplicated') }}

),

final as (

    select
        int_events_sessionized.event_id,
        int_events_sessionized.user_id,
        int_events_sessionized.session_id,
        int_events_sessionized.item_id,
        int_events_sessionized.event_type,
        int_events_sessionized.event_timestamp,
        -- Order within a session: event_timestamp, then event_id.
        row_number() over (
            partition by int_events_sessionized.session_id
            order by int_events_sessionized.event_timestamp, int_events_sessionized.event_id
        ) as session_position,
        int_items_deduplicated.category,
        int_items_deduplicated.price
    from int_events_sessionized
    left join int_items_deduplicated
        on int_events_sessionized.item_id = int_items_deduplicated.item_id

)

select * from final
