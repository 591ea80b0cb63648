{#-
  One row per user per UTC day with events: the daily counts every user feature window sums.
  Aggregating to days first keeps the windows in user_features small (rows = active days).
  Incremental: the days from incremental_since_day on (a session counts on its first day).
-#}
{{ config(incremental_partition='day_number', incremental_day='day_number') }}
{%- set incremental = is_incremental_build() %}

with fct_events as (

    select user_id, session_id, event_type, event_timestamp, price from {{ ref('fct_events') }}
    {%- if incremental %}
    where session_id in (
        select session_id from {{ ref('fct_events') }}
        where {{ day_number('event_timestamp') }} >= {{ incremental_since_day() }}
    )
    {%- endif %}

),

int_events_aggregated_to_user_item_days as (

    select user_id, day_number, is_first_day
    from {{ ref('int_events_aggregated_to_user_item_days') }}
    {%- if incremental %}
    where day_number >= {{ incremental_since_day() }}
    {%- endif %}

),

daily_events as (

    select
        user_id,
        {{ day_number('event_timestamp') }} as day_number,
        count(*) filter (where event_type = 'view') as views,
        count(*) filter (where event_type = 'add_to_cart') as carts,
        count(*) filter (where event_type = 'purchase') as purchases,
        count(*) as events,
        min(event_timestamp) as first_event_at,
        max(event_timestamp) as last_event_at,
        sum(price) as price_sum,
        count(price) as priced_events
    from fct_events
    group by all

),

session_first_days as (

    select user_id, min({{ day_number('event_timestamp') }}) as day_number
    from fct_events
    group by user_id, session_id

),

daily_new_sessions as (

    select user_id, day_number, count(*) as new_sessions
    from session_first_days
    group by all

),

daily_new_items as (

    select user_id, day_number, count(*) as new_items
    from int_events_aggregated_to_user_item_days
    where is_first_day
    group by all

),

final as (

    select
        daily_events.*,
        {{ day_date('daily_events.day_number') }} as feature_date,
        coalesce(daily_new_sessions.new_sessions, 0) as new_sessions,
        coalesce(daily_new_items.new_items, 0) as new_items
    from daily_events
    left join daily_new_sessions
        on daily_events.user_id = daily_new_sessions.user_id
        and daily_events.day_number = daily_new_sessions.day_number
    left join daily_new_items
        on daily_events.user_id = daily_new_items.user_id
        and daily_events.day_number = daily_new_items.day_number

)

select * from final
{%- if incremental %}
where day_number >= {{ incremental_since_day() }}
{%- endif %}
