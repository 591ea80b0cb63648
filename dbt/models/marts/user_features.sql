{{ config(
    materialized='parquet_export',
    incremental_partition='feature_date',
    incremental_day="(feature_date - date '1970-01-01')",
) }}
{#-
  Point in time: the row for (user, day) has event_timestamp = the user's last event that
  UTC day + 1 microsecond and uses only days up to and including that day, so it holds every
  event strictly before its own timestamp and joins only at or after it.

  Recent items and top categories are computed here rather than in intermediate models: they
  are lists, the bulk of this mart's bytes, and storing them twice cost more than the rest of
  the mart.

  Incremental: rows from incremental_since_day on for the users active on those days; other
  users' rows and earlier days stay stored. Only the last 30 days are windowed again: the
  all-history totals start from the sums of the user's days before that window, and the
  recent items from the list as it stood before incremental_since_day (the user's top items
  by last touch then, which is what the day-by-day walk yields).
-#}
{%- set incremental = is_incremental_build() -%}
{%- set keep_items = var('recent_items') | int -%}
{%- set keep_categories = var('top_categories') | int -%}

with recursive {% if incremental -%}
active_users as {{ cte_materialized() }} (

    {{ active_entities(ref('int_events_aggregated_to_user_days'), 'user_id') }}

),

-- The active users' days before the 30-day windows of the rebuilt rows, summed once.
earlier_totals as (

    {{ earlier_totals(
        ref('int_events_aggregated_to_user_days'), 'user_id', 'active_users',
        ['events', 'new_sessions', 'new_items']
    ) }}

),

{% endif -%}
int_events_aggregated_to_user_days as (

    {%- if incremental %}
    select
        user_days.*,
        earlier_totals.events as earlier_events,
        earlier_totals.new_sessions as earlier_new_sessions,
        earlier_totals.new_items as earlier_new_items,
        earlier_totals.first_event_at as earlier_first_event_at
    from {{ ref('int_events_aggregated_to_user_days') }} as user_days
    left join earlier_totals
        on user_days.user_id = earlier_totals.user_id
    where user_days.day_number >= {{ incremental_since_day() }} - 29
        and user_days.user_id in (select user_id from active_users)
    {%- else %}
    select * from {{ ref('int_events_aggregated_to_user_days') }}
    {%- endif %}

),

int_events_aggregated_to_user_item_days as (

    select user_id, item_id, feature_date, last_event_at
    from {{ ref('int_events_aggregated_to_user_item_days') }}
    {%- if incremental %}
    where day_number >= {{ incremental_since_day() }}
        and user_id in (select user_id from active_users)
    {%- endif %}

),

fct_events as (

    select user_id, category, event_timestamp
    from {{ ref('fct_events') }}
    where category is not null
    {%- if incremental %}
        and {{ day_number('event_timestamp') }} >= {{ incremental_since_day() }} - 29
        and user_id in (select user_id from active_users)
    {%- endif %}

),

windowed as (

    select
        user_id,
        last_event_at + interval 1 microsecond as event_timestamp,
        feature_date,
        day_number,
        views as views_1d,
        carts as carts_1d,
        purchases as purchases_1d,
        cast(sum(views) over last_7_days as bigint) as views_7d,
        cast(sum(carts) over last_7_days as bigint) as carts_7d,
        cast(sum(purchases) over last_7_days as bigint) as purchases_7d,
        cast(sum(views) over last_30_days as bigint) as views_30d,
        cast(sum(carts) over last_30_days as bigint) as carts_30d,
        cast(sum(purchases) over last_30_days as bigint) as purchases_30d,
        cast(sum(events) over last_30_days as bigint) as events_30d,
        {%- if incremental %}
        cast(coalesce(earlier_events, 0) + sum(events) over all_days as bigint)
            as events_total,
        cast(coalesce(earlier_new_sessions, 0) + sum(new_sessions) over all_days as bigint)
            as sessions_total,
        cast(coalesce(earlier_new_items, 0) + sum(new_items) over all_days as bigint)
            as distinct_items_total,
        {{ epoch_seconds(
            'coalesce(earlier_first_event_at, min(first_event_at) over all_days)'
        ) }} as first_event_epoch_s,
        {%- else %}
        cast(sum(events) over all_days as bigint) as events_total,
        cast(sum(new_sessions) over all_days as bigint) as sessions_total,
        cast(sum(new_items) over all_days as bigint) as distinct_items_total,
        {{ epoch_seconds('min(first_event_at) over all_days') }} as first_event_epoch_s,
        {%- endif %}
        count(*) over last_30_days as active_days_30d,
        {{ epoch_seconds('last_event_at') }} as last_event_epoch_s,
        sum(price_sum) over last_30_days / nullif(sum(priced_events) over last_30_days, 0)
            as avg_price_30d
    from int_events_aggregated_to_user_days
    window
        all_days as (
            partition by user_id order by day_number
            rows between unbounded preceding and current row
        ),
        last_7_days as (
            partition by user_id order by day_number
            range between 6 preceding and current row
        ),
        last_30_days as (
            partition by user_id order by day_number
            range between 29 preceding and current row
        )

),

-- Recent items: each day's list is that day's items (latest touch first, ties by item_id)
-- followed by the previous day's list minus those items. The recursive CTE walks every
-- user's days in step: iteration n handles each user's n-th active day and selects day
-- n + 1 with a constant filter rather than a join key, so each iteration probes only the
-- rows it needs. The work stays linear in user-days, where joining every day to all earlier
-- events would grow with the square of a user's history.
{%- if incremental %}
-- Incremental: the walk starts from the list as it stood before incremental_since_day, a
-- pseudo-day holding each item's last touch then (the walk's list on a day is the top items
-- by last touch up to it, ties by item_id), so only the new days are walked.
item_touches as (

    select user_id, feature_date, item_id, last_event_at
    from int_events_aggregated_to_user_item_days

    union all

    select
        user_id,
        {{ day_date(incremental_since_day() ~ ' - 1') }} as feature_date,
        item_id,
        max(last_event_at) as last_event_at
    from {{ ref('int_events_aggregated_to_user_item_days') }}
    where day_number < {{ incremental_since_day() }}
        and user_id in (select user_id from active_users)
    group by user_id, item_id

),
{%- endif %}

day_lists as {{ cte_materialized() }} (

    select
        user_id,
        feature_date,
        row_number() over (partition by user_id order by feature_date) as day_index,
        {{ list_map(
            list_head(
                list_sorted(agg_list(struct_of([
                    ['age_us', '-' ~ ts_epoch_us('last_event_at')], ['item_id', 'item_id']
                ]))),
                keep_items
            ),
            'x', 'x.item_id'
        ) }} as day_item_ids
    from {{ 'item_touches' if incremental else 'int_events_aggregated_to_user_item_days' }}
    group by user_id, feature_date

),

recent_items as (

    select user_id, feature_date, day_index, day_item_ids as recent_item_ids
    from day_lists
    where day_index = 1

    union all

    select
        next_days.user_id,
        next_days.feature_date,
        next_days.day_index,
        {{ list_head(list_join(
            'next_days.day_item_ids',
            list_keep(
                'recent_items.recent_item_ids', 'x',
                'not ' ~ list_has('next_days.day_item_ids', 'x')
            )
        ), keep_items) }}
    from recent_items
    {{ recent_items_next_days('recent_items', 'day_lists', 'next_days') }}

),

-- Top categories over the 30 days ending each user-day. A category-day counts for the
-- user-days in the 30 days after it; joining on the user and a 30-day bucket (each
-- category-day is offered to its bucket and the next) keeps the join bounded for users with
-- long histories, instead of comparing every pair of their days.
category_days as (

    select
        user_id,
        category,
        {{ day_number('event_timestamp') }} as day_number,
        count(*) as events
    from fct_events
    group by all

),

offered_category_days as (

    select *, {{ unnest_list([int_div('day_number', 30), int_div('day_number', 30) ~ ' + 1']) }} as bucket
    from category_days

),

category_windows as (

    select
        windowed.user_id,
        windowed.feature_date,
        offered_category_days.category,
        sum(offered_category_days.events) as events
    from windowed
    inner join offered_category_days
        on offered_category_days.user_id = windowed.user_id
        and offered_category_days.bucket = {{ int_div('windowed.day_number', 30) }}
        and offered_category_days.day_number
            between windowed.day_number - 29 and windowed.day_number
    {%- if incremental %}
    where windowed.day_number >= {{ incremental_since_day() }}
    {%- endif %}
    group by all

),

top_categories as (

    -- list() + list_sort() on (negated count, name): ordered aggregates are far slower.
    select
        user_id,
        feature_date,
        sum(events) as category_events,
        {{ list_head(
            list_sorted(agg_list(struct_of([
                ['negative_events', '-events'], ['category', 'category']
            ]))),
            keep_categories
        ) }} as ranked
    from category_windows
    group by user_id, feature_date

),

final as (

    select
        windowed.user_id,
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
        windowed.sessions_total,
        windowed.distinct_items_total,
        windowed.active_days_30d,
        windowed.first_event_epoch_s,
        windowed.last_event_epoch_s,
        -- Rates over all events of the window, which is never empty (it holds its own day).
        windowed.purchases_30d / windowed.events_30d as conversion_rate_30d,
        windowed.carts_30d / windowed.events_30d as cart_rate_30d,
        windowed.avg_price_30d,
        coalesce(
            {{ list_map('top_categories.ranked', 'x', 'x.category') }}, {{ empty_list('varchar') }}
        ) as top_categories,
        coalesce(
            {{ list_map(
                'top_categories.ranked', 'x',
                '-x.negative_events / top_categories.category_events'
            ) }},
            {{ empty_list('double') }}
        ) as top_category_shares,
        recent_items.recent_item_ids
    from windowed
    left join top_categories
        on windowed.user_id = top_categories.user_id
        and windowed.feature_date = top_categories.feature_date
    left join recent_items
        on windowed.user_id = recent_items.user_id
        and windowed.feature_date = recent_items.feature_date
    {%- if incremental %}
    where windowed.day_number >= {{ incremental_since_day() }}
    {%- endif %}

)

select * from final
