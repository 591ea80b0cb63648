{{ config(materialized='parquet_export') }}

with int_items_deduplicated as (

    select * from {{ ref('int_items_deduplicated') }}

),

fct_events as (

    select item_id, event_timestamp from {{ ref('fct_events') }}

),

event_stats as (

    select
        item_id,
        min(event_timestamp) as first_seen_at,
        max(event_timestamp) as last_seen_at,
        count(*) as event_count
    from fct_events
    group by item_id

),

final as (

    select
        coalesce(int_items_deduplicated.item_id, event_stats.item_id) as item_id,
        int_items_deduplicated.category,
        int_items_deduplicated.price,
        int_items_deduplicated.title,
        int_items_deduplicated.attributes,
        event_stats.first_seen_at,
        event_stats.last_seen_at,
        coalesce(event_stats.event_count, 0) as event_count,
        int_items_deduplicated.item_id is not null as has_metadata
    from int_items_deduplicated
    full outer join event_stats
        on int_items_deduplicated.item_id = event_stats.item_id

)

select * from final
