{#-
  Point-in-time guard for item_features: for a deterministic sample of rows, recompute the
  features from fct_events using only events strictly before the row's event_timestamp and
  fail on any difference (see assert_user_features_point_in_time.sql).
-#}
{%- set sample_rows = 200 -%}
{%- set tolerance = 1e-9 -%}

with item_features as (

    select * from {{ ref('item_features') }}

),

fct_events as (

    select * from {{ ref('fct_events') }}

),

sampled as (

    select *, {{ date_start('feature_date') }} as day_start
    from item_features
    order by md5(item_id || '|' || cast(feature_date as {{ sql_type('varchar') }}))
    limit {{ sample_rows }}

),

history as (

    select
        sampled.item_id,
        sampled.feature_date,
        fct_events.user_id,
        fct_events.event_type,
        fct_events.event_timestamp,
        fct_events.event_timestamp >= sampled.day_start as in_1d,
        fct_events.event_timestamp >= sampled.day_start - interval 6 days as in_7d,
        fct_events.event_timestamp >= sampled.day_start - interval 29 days as in_30d
    from sampled
    inner join fct_events
        on fct_events.item_id = sampled.item_id
        and fct_events.event_timestamp < sampled.event_timestamp

),

counted as (

    select
        item_id,
        feature_date,
        {%- for days in ['1d', '7d', '30d'] %}
        count(*) filter (where in_{{ days }} and event_type = 'view') as views_{{ days }},
        count(*) filter (where in_{{ days }} and event_type = 'add_to_cart') as carts_{{ days }},
        count(*) filter (where in_{{ days }} and event_type = 'purchase') as purchases_{{ days }},
        {%- endfor %}
        count(*) as events_total,
        count(distinct user_id) as users_total,
        count(*) filter (where in_30d and event_type = 'add_to_cart')
            / count(*) filter (where in_30d) as cart_rate_30d,
        count(*) filter (where in_30d and event_type = 'purchase')
            / count(*) filter (where in_30d) as purchase_rate_30d,
        (count(*) filter (where in_7d) / {{ double_literal('7.0') }})
            / (count(*) filter (where in_30d) / {{ double_literal('30.0') }})
            as trend_7d,
        {{ ts_epoch_us('min(event_timestamp)') }} / 1e6 as first_seen_epoch_s,
        {{ ts_epoch_us('max(event_timestamp)') }} / 1e6 as last_event_epoch_s,
        max(event_timestamp) as last_event_at
    from history
    group by item_id, feature_date

),

compared as (

    select
        sampled.item_id,
        sampled.feature_date,
        sampled.event_timestamp,
        {% call non_null_list() %}
            {%- for column in ['views', 'carts', 'purchases'] %}
            {%- for days in ['1d', '7d', '30d'] %}
            case when sampled.{{ column }}_{{ days }} is distinct from counted.{{ column }}_{{ days }}
                then '{{ column }}_{{ days }}' end,
            {%- endfor %}
            {%- endfor %}
            {%- for column in ['events_total', 'users_total'] %}
            case when sampled.{{ column }} is distinct from counted.{{ column }}
                then '{{ column }}' end,
            {%- endfor %}
            {%- for column in ['cart_rate_30d', 'purchase_rate_30d', 'trend_7d', 'first_seen_epoch_s', 'last_event_epoch_s'] %}
            case when not coalesce(
                    abs(sampled.{{ column }} - counted.{{ column }})
                        <= {{ tolerance }} * greatest(1, abs(counted.{{ column }})),
                    false
                ) then '{{ column }}' end,
            {%- endfor %}
            case when sampled.event_timestamp
                    is distinct from counted.last_event_at + interval 1 microsecond
                then 'event_timestamp (expected last event + 1us)' end,
            case when {{ utc_date('counted.last_event_at') }} is distinct from sampled.feature_date
                then 'feature_date' end
        {% endcall %} as mismatched_columns
    from sampled
    left join counted
        on sampled.item_id = counted.item_id and sampled.feature_date = counted.feature_date

)

select * from compared where {{ list_length('mismatched_columns') }} > 0
