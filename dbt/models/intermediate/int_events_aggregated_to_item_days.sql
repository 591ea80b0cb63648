{#-
  One row per item per UTC day with events: the daily counts item feature windows sum.
  Incremental: the days from incremental_since_day on.
-#}
{{ config(incremental_partition='day_number', incremental_day='day_number') }}
{%- set incremental = is_incremental_build() %}

with fct_events as (

    select item_id, event_type, event_timestamp from {{ ref('fct_events') }}
    {%- if incremental %}
    where {{ day_number('event_timestamp') }} >= {{ incremental_since_day() }}
    {%- endif %}

),

int_events_aggregated_to_user_item_days as (

    select item_id, day_number, is_first_day
    from {{ ref('int_events_aggregated_to_user_item_days') }}
    {%- if incremental %}
    where day_number >= {{ incremental_since_day() }}
    {%- endif %}

),

daily_events as (

    select
        item_id,
        {{ day_number('event_timestamp') }} as day_number,
        count(*) filter (where event_type = 'view') as views,
        count(*) filter (where event_type = 'add_to_cart') as carts,
        count(*) filter (where event_type = 'purchase') as purchases,
        count(*) as events,
        min(event_timestamp) as first_event_at,
        max(event_timestamp) as last_event_at
    from fct_events
    group by all

),

daily_new_users as (

    select item_id, day_number, count(*) as new_users
    from int_events_aggregated_to_user_item_days
    where is_first_day
    group by all

),

final as (

    select
        daily_events.*,
        {{ day_date('daily_events.day_number') }} as feature_date,
        coalesce(daily_new_users.new_users, 0) as new_users
    from daily_events
    left join daily_new_users
        on daily_events.item_id = daily_new_users.item_id
        and daily_events.day_number = daily_new_users.day_number

)

select * from final
