{{ config(enabled=target.type == 'duckdb') }}  {#- item_rules is a DuckDB Python model -#}
{#-
  Point-in-time guard for item_rules: a rule counts only pairs of events strictly before
  snapshot_at, so every listed item and every listed follower must have such an event. (The
  weights are not recomputed here; the kernel's unit tests show that later events leave an
  earlier snapshot's lists unchanged.)
-#}

with item_rules as (

    select * from {{ ref('item_rules') }}

),

fct_events as (

    select * from {{ ref('fct_events') }}

),

first_seen as (

    select item_id, min(event_timestamp) as first_event_at
    from fct_events
    group by item_id

),

listed as (

    select item_id, snapshot_name, event_timestamp as snapshot_at, item_id as listed_item_id
    from item_rules

    union all

    select item_id, snapshot_name, event_timestamp, unnest(rule_item_ids)
    from item_rules

),

failures as (

    select
        listed.item_id || ' @ ' || listed.snapshot_name || ': lists ' || listed.listed_item_id
            || ', first seen ' || coalesce(first_seen.first_event_at::varchar, 'never')
            || ', not before the snapshot at ' || listed.snapshot_at as failure
    from listed
    left join first_seen
        on listed.listed_item_id = first_seen.item_id
    where not coalesce(first_seen.first_event_at < listed.snapshot_at, false)

)

select * from failures
