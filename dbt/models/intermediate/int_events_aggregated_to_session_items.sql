{{ config(
    incremental_partition=day_number('first_interaction_at'),
    incremental_day=day_number('first_interaction_at'),
    incremental_rebuilt_from='int_sessions_rebuilt_from',
) }}
{#-
  One row per session per distinct item: the shared base of fct_sessions and session_items.

  Incremental: the partitions (the day of the row's first interaction) from
  int_sessions_rebuilt_from's day on, from the whole sessions that touch them.
-#}
{%- set incremental = is_incremental_build() %}
{%- set from_day = sessions_rebuilt_from() %}

with fct_events as (

    select * from {{ ref('fct_events') }}
    {%- if incremental %}
    where session_id in (
        select session_id from {{ ref('fct_events') }}
        where {{ day_number('event_timestamp') }} >= {{ from_day }}
    )
    {%- endif %}

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
{%- if incremental %}
where {{ day_number('first_interaction_at') }} >= {{ from_day }}
{%- endif %}
