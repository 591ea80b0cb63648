{#- The moments features are frozen at: the start of train/valid/test, and serving = the end. -#}

with data_windows as (

    select * from {{ ref('data_windows') }}

),

final as (

    select window_name as snapshot_name, starts_at as snapshot_at
    from data_windows
    where window_name in ('train', 'valid', 'test')
    union all
    select 'serving', ends_at
    from data_windows
    where window_name = 'test'

)

select * from final
