{#-
  Item metadata, one row per trimmed item_id. When the file repeats an item the last row
  (by source_file, source_row) wins, as a later correction would.
-#}

with stg_landing__items as (

    select * from {{ ref('stg_landing__items') }}

),

trimmed as (

    select
        nullif(trim(item_id), '') as item_id,
        nullif(trim(category), '') as category,
        price,
        title,
        attributes,
        source_file,
        source_row
    from stg_landing__items

),

final as (

    select item_id, category, price, title, attributes
    from trimmed
    where item_id is not null
    qualify row_number() over (
        partition by item_id order by source_file desc, source_row desc
    ) = 1

)

select * from final
