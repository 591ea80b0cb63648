with int_users_deduplicated as (

    select * from {{ ref('int_users_deduplicated') }}

),

int_events_aggregated_to_user_days as (

    select * from {{ ref('int_events_aggregated_to_user_days') }}

),

event_stats as (

    -- new_sessions counts each session on the user's first day in it, so the sum is the
    -- number of distinct sessions without a second pass over the events.
    select
        user_id,
        min(first_event_at) as first_seen_at,
        max(last_event_at) as last_seen_at,
        cast(sum(events) as bigint) as event_count,
        cast(sum(new_sessions) as bigint) as session_count
    from int_events_aggregated_to_user_days
    group by user_id

),

final as (

    select
        coalesce(int_users_deduplicated.user_id, event_stats.user_id) as user_id,
        event_stats.first_seen_at,
        event_stats.last_seen_at,
        coalesce(event_stats.event_count, 0) as event_count,
        coalesce(event_stats.session_count, 0) as session_count,
        int_users_deduplicated.attributes
    from int_users_deduplicated
    full outer join event_stats
        on int_users_deduplicated.user_id = event_stats.user_id

)

select * from final
