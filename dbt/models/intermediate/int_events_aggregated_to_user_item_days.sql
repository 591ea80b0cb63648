{#-
  One row per user per item per UTC day with events. Feeds recent items (last touch per day),
  distinct_items_total and users_total (is_first_day marks the pair's first day).
  Incremental: the days from incremental_since_day on; a pair stored on an earlier day is not
  on its first day.
-#}
{{ config(incremental_partition='day_number', incremental_day='day_number') }}
{%- set incremental = is_incremental_build() %}

with fct_events as (

    select user_id, item_id, event_timestamp from {{ ref('fct_events') }}
    {%- if incremental %}
    where {{ day_number('event_timestamp') }} >= {{ incremental_since_day() }}
    {%- endif %}

),

-- materialized: DuckDB plans the window in `final` as an aggregate joined back to this
-- CTE and would otherwise compute the aggregation twice (a second scan of fct_events).
aggregated as {{ cte_materialized() }} (

    select
        user_id,
        item_id,
        {{ day_number('event_timestamp') }} as day_number,
        count(*) as events,
        max(event_timestamp) as last_event_at
    from fct_events
    group by all

),

final as (

    select
        user_id,
        item_id,
        {{ day_date('day_number') }} as feature_date,
        day_number,
        events,
        last_event_at,
        day_number = min(day_number) over (partition by user_id, item_id)
        {%- if incremental %}
            and not exists (
                select 1 from {{ this }} as stored
                where stored.user_id = aggregated.user_id
                    and stored.item_id = aggregated.item_id
                    and stored.day_number < {{ incremental_since_day() }}
            )
        {%- endif %}
            as is_first_day
    from aggregated

)

select * from final
