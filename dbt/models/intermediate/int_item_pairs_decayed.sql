{{ config(materialized='view') }}
{#-
  Every co-visited pair of items with its four weights, each decayed to the end of its
  snapshot bucket (the first snapshot after the pair's later event); a pair has one row per
  stored day it occurred on and per piece of a snapshot's day. item_neighbors (DuckDB) sums
  them per pair and bucket in its compiled pass; int_item_pairs_scored (the SQL path, Spark)
  groups them. A view: reading it is what computes it, once per build.

  Built for 5M+ events on 2 cores, and so that a nightly build does not read the events of
  the whole history again:
  - a pair is decayed once, to the end of its bucket; carrying a bucket to a later snapshot
    is one factor per bucket, because
    0.5^((S_k - t)/h) = 0.5^((S_j - t)/h) * 0.5^((S_k - S_j)/h);
  - the snapshots move with the data, so buckets are summed from int_item_pair_days (stored
    per UTC day, decayed to the day's end, incremental): a day that holds no snapshot lies
    in one bucket and carries to its end with one factor;
  - only the (at most four) days a snapshot falls in are paired again from fct_events, and
    split at the snapshot.
  The sums equal decaying each pair straight to its bucket's end up to float rounding.
-#}
{%- set snapshots = snapshot_names() -%}
{%- set half_life = var('covis_half_life_days') -%}
{%- set parts = pair_parts() -%}

with feature_snapshots as (

    select * from {{ ref('feature_snapshots') }}

),

snapshot_times as (

    select
        {%- for name in snapshots %}
        max(snapshot_at) filter (where snapshot_name = '{{ name }}') as {{ name }}_at,
        max({{ day_number('snapshot_at') }}) filter (where snapshot_name = '{{ name }}')
            as {{ name }}_day
        {{- "," if not loop.last }}
        {%- endfor %}
    from feature_snapshots

),

snapshot_days as (

    select distinct {{ day_number('snapshot_at') }} as day_number
    from feature_snapshots

),

int_items_keyed as (

    select item_id, item_key from {{ ref('int_items_keyed') }}

),

-- Stored by item_id (keys change when an item is new); ids order as keys do.
int_item_pair_days as (

    select
        lo_keys.item_key as lo_item_key,
        hi_keys.item_key as hi_item_key,
        pair_days.day_number,
        pair_days.first_paired_at,
        pair_days.lo_hi_first_followed_at,
        pair_days.hi_lo_first_followed_at
        {%- for part in parts %},
        pair_days.{{ part }}
        {%- endfor %}
    from {{ ref('int_item_pair_days') }} as pair_days
    inner join int_items_keyed as lo_keys
        on pair_days.lo_item_id = lo_keys.item_id
    inner join int_items_keyed as hi_keys
        on pair_days.hi_item_id = hi_keys.item_id
    where pair_days.day_number not in (select day_number from snapshot_days)

),

-- The whole sessions that have an event on a snapshot's day.
snapshot_day_events as (

    select
        fct_events.session_id,
        fct_events.session_position,
        int_items_keyed.item_key,
        fct_events.event_type,
        fct_events.event_timestamp
    from {{ ref('fct_events') }} as fct_events
    inner join int_items_keyed
        on fct_events.item_id = int_items_keyed.item_id
    where fct_events.session_id in (
        select session_id from {{ ref('fct_events') }}
        where {{ day_number('event_timestamp') }} in (select day_number from snapshot_days)
    )

),

{{ session_item_pairs_ctes('session_pairs', 'snapshot_day_events') }},

-- Pairs of a snapshot's day, each decayed to the end of its own bucket.
split_day_pairs as (

    select
        lo_item_key,
        hi_item_key,
        paired_at as first_paired_at,
        case when lo_hi_seq is not null then paired_at end as lo_hi_first_followed_at,
        case when hi_lo_seq is not null then paired_at end as hi_lo_first_followed_at,
        bucket
        {%- for part in parts %},
        {{ part }} * {{ half_life_decay(
            "(" ~ ts_epoch_us('bucket_end_at') ~ " - " ~ ts_epoch_us('paired_at') ~ ") / 1e6",
            half_life
        ) }} as {{ part }}
        {%- endfor %}
    from (
        select
            session_pairs.*,
            {{ snapshot_bucket('paired_at < {name}_at') }}
        from session_pairs
        cross join snapshot_times
        where {{ day_number('paired_at') }} in (select day_number from snapshot_days)
    ) as bucketed

),

-- Every other day: all in one bucket, carried from the day's end to the bucket's end.
whole_day_pairs as (

    select
        lo_item_key,
        hi_item_key,
        first_paired_at,
        lo_hi_first_followed_at,
        hi_lo_first_followed_at,
        bucket
        {%- for part in parts %},
        {{ part }} * {{ half_life_decay(
            "(" ~ ts_epoch_us('bucket_end_at') ~ " - (day_number + 1) * 86400000000) / 1e6",
            half_life
        ) }} as {{ part }}
        {%- endfor %}
    from (
        select
            int_item_pair_days.*,
            {{ snapshot_bucket('day_number < {name}_day') }}
        from int_item_pair_days
        cross join snapshot_times
    ) as bucketed

),

decayed as (

    select * from split_day_pairs
    union all
    select * from whole_day_pairs

)

select * from decayed
