{{ config(incremental_partition='day_number', incremental_day='day_number') }}
{#-
  One row per unordered item pair (lo_item_id < hi_item_id) per UTC day of its later event
  (paired_at): the day's first pairing times and, per weight of pair_parts(), the day's sum
  decayed to the end of that day (midnight UTC after it). int_item_pairs_decayed carries a
  day's sum to a snapshot with one factor, since for t < E <= S
  0.5^((S - t)/h) = 0.5^((E - t)/h) * 0.5^((S - E)/h); the stored values stay within
  [0.5^(1/h), 1] times the weights, whatever the date.

  Pairs are stored by item_id, not by int_items_keyed's key: a new item renumbers the keys,
  and a stored day must stay valid. Ids order as keys do, so lo/hi are the same items.

  Incremental: the days from incremental_since_day on, from the whole sessions touching them.
  A stored day never changes: later events only pair with later days.
-#}
{%- set incremental = is_incremental_build() %}
{%- set half_life = var('covis_half_life_days') %}

with fct_events as (

    select session_id, session_position, item_id as item_key, event_type, event_timestamp
    from {{ ref('fct_events') }}
    where item_id is not null
    {%- if incremental %}
    and session_id in (
        select session_id from {{ ref('fct_events') }}
        where {{ day_number('event_timestamp') }} >= {{ incremental_since_day() }}
    )
    {%- endif %}

),

{{ session_item_pairs_ctes('session_pairs', 'fct_events') }},

days as (

    select *, {{ day_number('paired_at') }} as day_number
    from session_pairs

),

decayed as (

    select
        *,
        {{ half_life_decay(
            "((day_number + 1) * 86400000000 - " ~ ts_epoch_us('paired_at') ~ ") / 1e6",
            half_life
        ) }} as decay
    from days
    {%- if incremental %}
    where day_number >= {{ incremental_since_day() }}
    {%- endif %}

),

final as (

    select
        lo_item_key as lo_item_id,
        hi_item_key as hi_item_id,
        day_number,
        min(paired_at) as first_paired_at,
        min(paired_at) filter (where lo_hi_seq is not null) as lo_hi_first_followed_at,
        min(paired_at) filter (where hi_lo_seq is not null) as hi_lo_first_followed_at
        {%- for part in pair_parts() %},
        sum({{ part }} * decay) as {{ part }}
        {%- endfor %}
    from decayed
    group by lo_item_key, hi_item_key, day_number

)

select * from final
