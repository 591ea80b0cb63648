{{ config(
    materialized='parquet_export',
    incremental_partition=day_number('session_started_at'),
    incremental_day=day_number('session_started_at'),
    incremental_rebuilt_from='int_sessions_rebuilt_from',
) }}
{#-
  Incremental: the partitions (the session's first day) from int_sessions_rebuilt_from's
  day on; a session starting then has all its rows in int_events_aggregated_to_session_items'
  partitions from that day on.
-#}
{%- set incremental = is_incremental_build() %}
{%- set from_day = sessions_rebuilt_from() %}

with int_events_aggregated_to_session_items as (

    select * from {{ ref('int_events_aggregated_to_session_items') }}
    {%- if incremental %}
    where {{ day_number('first_interaction_at') }} >= {{ from_day }}
    {%- endif %}

),

fct_sessions as (

    select session_id, user_id, started_at, ended_at from {{ ref('fct_sessions') }}
    {%- if incremental %}
    where {{ day_number('started_at') }} >= {{ from_day }}
    {%- endif %}

),

final as (

    select
        int_events_aggregated_to_session_items.session_id,
        fct_sessions.user_id,
        int_events_aggregated_to_session_items.item_id,
        int_events_aggregated_to_session_items.interactions,
        int_events_aggregated_to_session_items.last_interaction_at,
        fct_sessions.started_at as session_started_at,
        fct_sessions.ended_at as session_ended_at
    from int_events_aggregated_to_session_items
    inner join fct_sessions
        on int_events_aggregated_to_session_items.session_id = fct_sessions.session_id

)

select * from final
