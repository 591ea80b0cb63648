{{ config(
    materialized='parquet_export',
    incremental_partition=day_number('event_timestamp'),
    incremental_day=day_number('event_timestamp'),
) }}
{#-
  Incremental: the days from incremental_since_day on are rebuilt from the sessions that touch
  them (a session's earlier events number its positions); earlier days stay stored.
-#}
{%- set incremental = is_incremental_build() %}

with int_events_sessionized as (

    select * from {{ ref('int_events_sessionized') }}

){%- if incremental %},

recent_sessions as {{ cte_materialized() }} (

    select * from int_events_sessionized
    where session_id in (
        select session_id from int_events_sessionized
        where {{ day_number('event_timestamp') }} >= {{ incremental_since_day() }}
    )

){%- endif %},

int_items_deduplicated as (

    select item_id, category, price from {{ ref('int_items_deduplicated') }}

),

final as (

    select
        int_events_sessionized.event_id,
        int_events_sessionized.user_id,
        int_events_sessionized.session_id,
        int_events_sessionized.item_id,
        int_events_sessionized.event_type,
        int_events_sessionized.event_timestamp,
        -- Order within a session: event_timestamp, then event_id (bigint on Spark too).
        cast(row_number() over (
            partition by int_events_sessionized.session_id
            order by int_events_sessionized.event_timestamp, int_events_sessionized.event_id
        ) as bigint) as session_position,
        int_items_deduplicated.category,
        int_items_deduplicated.price
    from {{ 'recent_sessions' if incremental else '' }} int_events_sessionized
    left join int_items_deduplicated
        on int_events_sessionized.item_id = int_items_deduplicated.item_id

)

select * from final
{%- if incremental %}
where {{ day_number('event_timestamp') }} >= {{ incremental_since_day() }}
{%- endif %}
