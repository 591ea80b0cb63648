{#- The moments features are frozen at: the start of train/valid/test, and serving = the end. -#}

with data_windows as (

    select * from {{ ref('data_windows') }}

),

snapshots as (

    select window_name as snapshot_name, starts_at as snapshot_at
    from data_windows
    where window_name in ('train', 'valid', 'test')
    union all
    select 'serving', ends_at
    from data_windows
    where window_name = 'test'

),

final as (

    -- snapshot_index numbers the snapshots in time order, as int_item_pairs_decayed's
    -- bucket does.
    select
        snapshot_name,
        snapshot_at,
        case snapshot_name
            {%- for name in snapshot_names() %}
            when '{{ name }}' then {{ loop.index0 }}
            {%- endfor %}
        end as snapshot_index
    from snapshots

)

select * from final
