{{ config(materialized='parquet_export') }}

with int_events_aggregated_to_session_items as (

    select * from {{ ref('int_events_aggregated_to_session_items') }}

),

aggregated as (

    select
        session_id,
        {{ arg_min('user_id', 'first_position') }} as user_id,
        min(first_interaction_at) as started_at,
        max(last_interaction_at) as ended_at,
        cast(sum(interactions) as bigint) as event_count,
        count(*) as distinct_items,
        cast(sum(views) as bigint) as views,
        cast(sum(carts) as bigint) as carts,
        cast(sum(purchases) as bigint) as purchases
    from int_events_aggregated_to_session_items
    group by session_id

),

final as (

    select
        session_id,
        user_id,
        started_at,
        ended_at,
        ({{ ts_epoch_us('ended_at') }} - {{ ts_epoch_us('started_at') }}) / 1e6 as duration_seconds,
        event_count,
        distinct_items,
        views,
        carts,
        purchases,
        purchases > 0 as has_purchase
    from aggregated

)

select * from final
