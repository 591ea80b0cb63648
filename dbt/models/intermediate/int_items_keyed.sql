{#-
  One row per item in the clean events, with a dense integer key in item_id order. The
  co-visitation models group and sort tens of millions of item pairs; on integer keys that is
  several times faster than on text ids, and key order equals id order, so ties still break
  by item_id.
-#}

with fct_events as (

    select distinct item_id from {{ ref('fct_events') }}

),

final as (

    select item_id, cast(row_number() over (order by item_id) as integer) as item_key
    from fct_events

)

select * from final
