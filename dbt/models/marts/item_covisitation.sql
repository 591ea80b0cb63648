{{ config(materialized='view') }}
{#- item_neighbors in long form for analysts: one row per item, neighbour, kind, snapshot. -#}

with item_neighbors as (

    select * from {{ ref('item_neighbors') }}

),

covis as (

    {{ neighbor_rows('item_neighbors', 'covis') }}

),

seq as (

    {{ neighbor_rows('item_neighbors', 'seq') }}

),

final as (

    select * from covis
    union all
    select * from seq

)

select * from final

