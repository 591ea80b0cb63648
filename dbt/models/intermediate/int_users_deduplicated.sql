{#- User metadata, one row per trimmed user_id; the last row of a repeated user wins. -#}

with stg_landing__users as (

    select * from {{ ref('stg_landing__users') }}

),

trimmed as (

    select
        nullif(trim(user_id), '') as user_id,
        attributes,
        source_file,
        source_row
    from stg_landing__users

),

final as (

    select user_id, attributes
    from trimmed
    where user_id is not null
    qualify row_number() over (
        partition by user_id order by source_file desc, source_row desc
    ) = 1

)

select * from final
