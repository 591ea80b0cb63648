{{ config(materialized='parquet_export') }}

with int_events_aggregated_to_session_items as (

    select * from {{ ref('int_events_aggregated_to_session_items') }}

),

fct_sessions as (

    select session_id, user_id, started_at, ended_at from {{ ref('fct_sessions') }}

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
