{{ config(materialized='view') }}
{#- item_neighbors in long form for analysts: one row per item, neighbour, kind, snapshot. -#}

with item_neighbors as (

    select * from {{ ref('item_neighbors') }}

),

covis as (

    select
        item_id,
        unnest(covis_item_ids) as neighbor_item_id,
        'covis' as kind,
        snapshot_name,
        event_timestamp as snapshot_at,
        unnest(covis_scores) as score,
        unnest(range(1, len(covis_item_ids) + 1)) as neighbor_rank
    from item_neighbors

),

seq as (

    select
        item_id,
        unnest(seq_item_ids) as neighbor_item_id,
        'seq' as kind,
        snapshot_name,
        event_timestamp as snapshot_at,
        unnest(seq_scores) as score,
        unnest(range(1, len(seq_item_ids) + 1)) as neighbor_rank
    from item_neighbors

),

final as (

    select * from covis
    union all
    select * from seq

)

select * from final
