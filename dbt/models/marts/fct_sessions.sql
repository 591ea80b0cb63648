{{ config(
    materialized='parquet_export',
    incremental_partition=day_number('started_at'),
    incremental_day=day_number('started_at'),
    incremental_rebuilt_from='int_sessions_rebuilt_from',
) }}
{#-
  Incremental: the partitions (the session's first day) from int_sessions_rebuilt_from's
  day on; a session starting then has all its rows in int_events_aggregated_to_session_items'
  partitions from that day on.
-#}
{%- set incremental = is_incremental_build() %}
{%- set from_day = sessions_rebuilt_from() %}

with int_events_aggregated_to_session_items as (

    select * from {{ ref('int_events_aggregated_to_session_items') }}
    {%- if incremental %}
    where session_id in (
        select session_id from {{ ref('int_events_aggregated_to_session_items') }}
        where {{ day_number('first_interaction_at') }} >= {{ from_day }}
    )
    {%- endif %}

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
{%- if incremental %}
where {{ day_number('started_at') }} >= {{ from_day }}
{%- endif %}
