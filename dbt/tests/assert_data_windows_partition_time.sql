{#-
  The windows are contiguous and cover the clean events: history starts at the first event,
  each window starts where the previous one ends, test ends 1 microsecond after the last
  event, and the snapshots sit on those boundaries.
-#}

with data_windows as (

    select * from {{ ref('data_windows') }}

),

feature_snapshots as (

    select * from {{ ref('feature_snapshots') }}

),

fct_events as (

    select
        min(event_timestamp) as first_event_at,
        max(event_timestamp) + interval 1 microsecond as after_last_event_at
    from {{ ref('fct_events') }}

),

ordered as (

    select
        *,
        lag(ends_at) over (
            order by case window_name
                when 'history' then 1 when 'train' then 2 when 'valid' then 3 else 4
            end
        ) as previous_ends_at
    from data_windows

),

failures as (

    select window_name || ' starts at ' || starts_at || ', previous window ends at '
        || previous_ends_at as failure
    from ordered
    where previous_ends_at is not null and starts_at <> previous_ends_at

    union all

    select window_name || ' ends before it starts' from ordered where ends_at < starts_at

    union all

    select 'history starts at ' || ordered.starts_at || ', first event at '
        || fct_events.first_event_at
    from ordered, fct_events
    where ordered.window_name = 'history' and ordered.starts_at <> fct_events.first_event_at

    union all

    select 'test ends at ' || ordered.ends_at || ', expected last event + 1us = '
        || fct_events.after_last_event_at
    from ordered, fct_events
    where ordered.window_name = 'test' and ordered.ends_at <> fct_events.after_last_event_at

    union all

    select 'snapshot ' || feature_snapshots.snapshot_name || ' at '
        || feature_snapshots.snapshot_at || ' is not on its window boundary'
    from feature_snapshots
    left join data_windows
        on (feature_snapshots.snapshot_name = data_windows.window_name
            and feature_snapshots.snapshot_at = data_windows.starts_at)
        or (feature_snapshots.snapshot_name = 'serving'
            and data_windows.window_name = 'test'
            and feature_snapshots.snapshot_at = data_windows.ends_at)
    where data_windows.window_name is null

)

select * from failures
