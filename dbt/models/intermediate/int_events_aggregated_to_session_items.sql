{#- One row per session per distinct item: the shared base of fct_sessions and session_items. -#}

with fct_events as (

    select * from {{ ref('fct_events') }}

),

final as (

    select
        session_id,
        item_id,
        -- A session belongs to the user of its first event.
        {{ arg_min('user_id', 'session_position') }} as user_id,
        min(session_position) as first_position,
        count(*) as interactions,
        count(*) filter (where event_type = 'view') as views,
        count(*) filter (where event_type = 'add_to_cart') as carts,
        count(*) filter (where event_type = 'purchase') as purchases,
        min(event_timestamp) as first_interaction_at,
        max(event_timestamp) as last_interaction_at
    from fct_events
    group by session_id, item_id

)

select * from final
