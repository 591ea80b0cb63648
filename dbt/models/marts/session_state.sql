{{ config(
    materialized='parquet_export',
    incremental_partition=day_number('event_timestamp'),
    incremental_day=day_number('event_timestamp'),
    incremental_rebuilt_from='int_sessions_rebuilt_from',
) }}
{#-
  The state the server keeps per session (and pushes to Feast after each event): the last
  max_session_events events, oldest first. Part of the push contract (recsys/contract.py),
  not a tuning knob.

  Incremental: the partitions (the session's last day, event_timestamp) from
  int_sessions_rebuilt_from's day on, from the whole sessions ending then.
-#}
{%- set kept_events = var('max_session_events') | int -%}
{%- set incremental = is_incremental_build() %}
{%- set from_day = sessions_rebuilt_from() %}

with fct_sessions as {{ cte_materialized() if incremental }} (

    select session_id, user_id, ended_at, event_count from {{ ref('fct_sessions') }}
    {%- if incremental %}
    where {{ day_number('ended_at') }} >= {{ from_day }}
    {%- endif %}

),

fct_events as (

    select session_id, session_position, item_id, event_type, event_timestamp
    from {{ ref('fct_events') }}
    {%- if incremental %}
    where session_id in (select session_id from fct_sessions)
    {%- endif %}

),

listed as (

    -- list() + list_sort() on a struct led by the position, then keep the tail: ordered
    -- aggregates, or a join to find each session's last positions, are slower here.
    select
        session_id,
        {{ list_tail(list_sorted(agg_list(struct_of([
            ['position', 'session_position'],
            ['item_id', 'item_id'],
            ['event_type', 'event_type'],
            ['event_time_ms', ts_epoch_ms('event_timestamp')]
        ]))), kept_events) }} as recent
    from fct_events
    group by session_id

),

final as (

    select
        fct_sessions.session_id,
        fct_sessions.user_id,
        fct_sessions.ended_at as event_timestamp,
        {{ list_map('listed.recent', 'e', 'e.item_id') }} as item_ids,
        {{ list_map('listed.recent', 'e', 'e.event_type') }} as event_types,
        {{ list_map('listed.recent', 'e', 'e.event_time_ms') }} as event_times_ms,
        fct_sessions.event_count
    from fct_sessions
    inner join listed
        on fct_sessions.session_id = listed.session_id

)

select * from final
