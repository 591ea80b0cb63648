{{ config(
    materialized='parquet_export',
    incremental_partition='feature_date',
    incremental_day="(feature_date - date '1970-01-01')",
) }}
{#-
  Point in time like user_features: the (item, day) row's event_timestamp is the item's last
  event that UTC day + 1 microsecond and it sums only that day and earlier ones.
  Incremental: rows from incremental_since_day on for the items active on those days, from
  their last 30 days; the all-history totals start from the sums of the earlier days.
-#}
{%- set incremental = is_incremental_build() %}

with {% if incremental -%}
active_items as {{ cte_materialized() }} (

    {{ active_entities(ref('int_events_aggregated_to_item_days'), 'item_id') }}

),

-- The active items' days before the 30-day windows of the rebuilt rows, summed once.
earlier_totals as (

    {{ earlier_totals(
        ref('int_events_aggregated_to_item_days'), 'item_id', 'active_items',
        ['events', 'new_users']
    ) }}

),

{% endif -%}
int_events_aggregated_to_item_days as (

    {%- if incremental %}
    select
        item_days.*,
        earlier_totals.events as earlier_events,
        earlier_totals.new_users as earlier_new_users,
        earlier_totals.first_event_at as earlier_first_event_at
    from {{ ref('int_events_aggregated_to_item_days') }} as item_days
    left join earlier_totals
        on item_days.item_id = earlier_totals.item_id
    where item_days.day_number >= {{ incremental_since_day() }} - 29
        and item_days.item_id in (select item_id from active_items)
    {%- else %}
    select * from {{ ref('int_events_aggregated_to_item_days') }}
    {%- endif %}

),

int_items_deduplicated as (

    select item_id, category, price from {{ ref('int_items_deduplicated') }}

),

windowed as (

    select
        item_id,
        last_event_at + interval 1 microsecond as event_timestamp,
        feature_date,
        views as views_1d,
        carts as carts_1d,
        purchases as purchases_1d,
        cast(sum(views) over last_7_days as bigint) as views_7d,
        cast(sum(carts) over last_7_days as bigint) as carts_7d,
        cast(sum(purchases) over last_7_days as bigint) as purchases_7d,
        cast(sum(events) over last_7_days as bigint) as events_7d,
        cast(sum(views) over last_30_days as bigint) as views_30d,
        cast(sum(carts) over last_30_days as bigint) as carts_30d,
        cast(sum(purchases) over last_30_days as bigint) as purchases_30d,
        cast(sum(events) over last_30_days as bigint) as events_30d,
        {%- if incremental %}
        cast(coalesce(earlier_events, 0) + sum(events) over all_days as bigint) as events_total,
        cast(coalesce(earlier_new_users, 0) + sum(new_users) over all_days as bigint)
            as users_total,
        {{ epoch_seconds('coalesce(earlier_first_event_at, min(first_event_at) over all_days)') }}
            as first_seen_epoch_s,
        {%- else %}
        cast(sum(events) over all_days as bigint) as events_total,
        cast(sum(new_users) over all_days as bigint) as users_total,
        {{ epoch_seconds('min(first_event_at) over all_days') }} as first_seen_epoch_s,
        {%- endif %}
        {{ epoch_seconds('last_event_at') }} as last_event_epoch_s
    from int_events_aggregated_to_item_days
    window
        all_days as (
            partition by item_id order by day_number
            rows between unbounded preceding and current row
        ),
        last_7_days as (
            partition by item_id order by day_number
            range between 6 preceding and current row
        ),
        last_30_days as (
            partition by item_id order by day_number
            range between 29 preceding and current row
        )

),

final as (

    select
        windowed.item_id,
        windowed.event_timestamp,
        windowed.feature_date,
        windowed.views_1d,
        windowed.carts_1d,
        windowed.purchases_1d,
        windowed.views_7d,
        windowed.carts_7d,
        windowed.purchases_7d,
        windowed.views_30d,
        windowed.carts_30d,
        windowed.purchases_30d,
        windowed.events_total,
        windowed.users_total,
        -- Rates over all events of the window, which is never empty (it holds its own day).
        windowed.carts_30d / windowed.events_30d as cart_rate_30d,
        windowed.purchases_30d / windowed.events_30d as purchase_rate_30d,
        (windowed.events_7d / {{ double_literal('7.0') }})
            / (windowed.events_30d / {{ double_literal('30.0') }}) as trend_7d,
        int_items_deduplicated.category,
        int_items_deduplicated.price,
        windowed.first_seen_epoch_s,
        windowed.last_event_epoch_s
    from windowed
    left join int_items_deduplicated
        on windowed.item_id = int_items_deduplicated.item_id

)

select * from final
{%- if incremental %}
where feature_date >= {{ day_date(incremental_since_day()) }}
{%- endif %}
