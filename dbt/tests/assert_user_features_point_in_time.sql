{#-
  Point-in-time guard for user_features: for a deterministic sample of rows, recompute every
  feature straight from fct_events using only events strictly before the row's
  event_timestamp, and fail on any difference. A feature that used an event at or after its
  own timestamp (or a timestamp that is not the day's last event + 1 microsecond) fails here.
  tests/dbt/test_point_in_time.py proves this test catches a leaking row.
-#}
{%- set sample_rows = 200 -%}
{%- set keep_items = var('recent_items') | int -%}
{%- set keep_categories = var('top_categories') | int -%}
{%- set tolerance = 1e-9 -%}

with user_features as (

    select * from {{ ref('user_features') }}

),

fct_events as (

    select * from {{ ref('fct_events') }}

),

sampled as (

    select *, {{ date_start('feature_date') }} as day_start
    from user_features
    order by md5(user_id || '|' || cast(feature_date as {{ sql_type('varchar') }}))
    limit {{ sample_rows }}

),

history as (

    -- Only events strictly before the row's own timestamp.
    select
        sampled.user_id,
        sampled.feature_date,
        fct_events.session_id,
        fct_events.item_id,
        fct_events.event_type,
        fct_events.event_timestamp,
        fct_events.category,
        fct_events.price,
        fct_events.event_timestamp >= sampled.day_start as in_1d,
        fct_events.event_timestamp >= sampled.day_start - interval 6 days as in_7d,
        fct_events.event_timestamp >= sampled.day_start - interval 29 days as in_30d
    from sampled
    inner join fct_events
        on fct_events.user_id = sampled.user_id
        and fct_events.event_timestamp < sampled.event_timestamp

),

counted as (

    select
        user_id,
        feature_date,
        {%- for days in ['1d', '7d', '30d'] %}
        count(*) filter (where in_{{ days }} and event_type = 'view') as views_{{ days }},
        count(*) filter (where in_{{ days }} and event_type = 'add_to_cart') as carts_{{ days }},
        count(*) filter (where in_{{ days }} and event_type = 'purchase') as purchases_{{ days }},
        {%- endfor %}
        count(*) as events_total,
        count(distinct session_id) as sessions_total,
        count(distinct item_id) as distinct_items_total,
        count(distinct {{ utc_date('event_timestamp') }}) filter (where in_30d) as active_days_30d,
        {{ ts_epoch_us('min(event_timestamp)') }} / 1e6 as first_event_epoch_s,
        {{ ts_epoch_us('max(event_timestamp)') }} / 1e6 as last_event_epoch_s,
        count(*) filter (where in_30d and event_type = 'purchase')
            / count(*) filter (where in_30d) as conversion_rate_30d,
        count(*) filter (where in_30d and event_type = 'add_to_cart')
            / count(*) filter (where in_30d) as cart_rate_30d,
        avg(price) filter (where in_30d) as avg_price_30d,
        max(event_timestamp) as last_event_at
    from history
    group by user_id, feature_date

),

item_recency as (

    select user_id, feature_date, item_id, max(event_timestamp) as last_touch_at
    from history
    group by all

),

recent as (

    select
        user_id,
        feature_date,
        {{ ordered_list('item_id', [['last_touch_at', 'desc'], ['item_id', 'asc']]) }} as recent_item_ids
    from (
        select *
        from item_recency
        qualify row_number() over (
            partition by user_id, feature_date order by last_touch_at desc, item_id
        ) <= {{ keep_items }}
    )
    group by all

),

category_counts as (

    select user_id, feature_date, category, count(*) as events
    from history
    where in_30d and category is not null
    group by all

),

categories as (

    select
        user_id,
        feature_date,
        {{ ordered_list('category', [['events', 'desc'], ['category', 'asc']]) }} as top_categories,
        {{ ordered_list('events / total_events', [['events', 'desc'], ['category', 'asc']]) }}
            as top_category_shares
    from (
        select *, sum(events) over (partition by user_id, feature_date) as total_events
        from category_counts
        qualify row_number() over (
            partition by user_id, feature_date order by events desc, category
        ) <= {{ keep_categories }}
    )
    group by all

),

compared as (

    select
        sampled.user_id,
        sampled.feature_date,
        sampled.event_timestamp,
        {% call non_null_list() %}
            {%- for column in ['views', 'carts', 'purchases'] %}
            {%- for days in ['1d', '7d', '30d'] %}
            case when sampled.{{ column }}_{{ days }} is distinct from counted.{{ column }}_{{ days }}
                then '{{ column }}_{{ days }}' end,
            {%- endfor %}
            {%- endfor %}
            {%- for column in ['events_total', 'sessions_total', 'distinct_items_total', 'active_days_30d'] %}
            case when sampled.{{ column }} is distinct from counted.{{ column }}
                then '{{ column }}' end,
            {%- endfor %}
            {%- for column in ['first_event_epoch_s', 'last_event_epoch_s', 'conversion_rate_30d', 'cart_rate_30d', 'avg_price_30d'] %}
            case when not coalesce(
                    abs(sampled.{{ column }} - counted.{{ column }})
                        <= {{ tolerance }} * greatest(1, abs(counted.{{ column }})),
                    sampled.{{ column }} is null and counted.{{ column }} is null
                ) then '{{ column }}' end,
            {%- endfor %}
            case when sampled.event_timestamp
                    is distinct from counted.last_event_at + interval 1 microsecond
                then 'event_timestamp (expected last event + 1us)' end,
            case when {{ utc_date('counted.last_event_at') }} is distinct from sampled.feature_date
                then 'feature_date' end,
            case when sampled.recent_item_ids is distinct from recent.recent_item_ids
                then 'recent_item_ids' end,
            case when sampled.top_categories
                    is distinct from coalesce(categories.top_categories, {{ empty_list('varchar') }})
                then 'top_categories' end,
            case when {{ list_length('sampled.top_category_shares') }}
                    is distinct from {{ list_length(
                        'coalesce(categories.top_category_shares, ' ~ empty_list('double') ~ ')'
                    ) }}
                or {{ list_max_abs_difference(
                    'sampled.top_category_shares', 'categories.top_category_shares'
                ) }} > {{ tolerance }}
                then 'top_category_shares' end
        {% endcall %} as mismatched_columns
    from sampled
    left join counted
        on sampled.user_id = counted.user_id and sampled.feature_date = counted.feature_date
    left join recent
        on sampled.user_id = recent.user_id and sampled.feature_date = recent.feature_date
    left join categories
        on sampled.user_id = categories.user_id
        and sampled.feature_date = categories.feature_date

)

select * from compared where {{ list_length('mismatched_columns') }} > 0
