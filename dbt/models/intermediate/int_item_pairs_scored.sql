{#-
  One row per unordered pair of items (lo_item_key < hi_item_key) that ever co-occurred
  within `covis_window` positions of one session. It holds both directions: per snapshot
  bucket, the decayed co-visitation and sequential weight of lo -> hi and of hi -> lo
  (docs/contracts.md gives the formulas); item_neighbors rolls buckets into scores.

  Built for 5M+ events on 2 cores:
  - pairs come from lead() over each session (no self-join), once for all snapshots;
  - one row per unordered pair halves the groups of the big aggregation, and integer item
    keys make it several times cheaper than text ids;
  - a pair is decayed once, to the end of its bucket (the first snapshot after its later
    event); carrying a bucket to a later snapshot is one factor per bucket, because
    0.5^((S_k - t)/h) = 0.5^((S_j - t)/h) * 0.5^((S_k - S_j)/h).
-#}
{%- set snapshots = snapshot_names() -%}
{%- set window_size = var('covis_window') | int -%}
{%- if window_size < 1 -%}
  {{ exceptions.raise_compiler_error(
      "var covis_window: expected a whole number of positions >= 1, found "
      ~ var('covis_window') ~ "; pass e.g. --vars '{covis_window: 3}'"
  ) }}
{%- endif -%}
{%- set half_life = var('covis_half_life_days') -%}
{%- set parts = ['lo_hi_covis', 'hi_lo_covis', 'lo_hi_seq', 'hi_lo_seq'] -%}

with fct_events as (

    select session_id, session_position, item_id, event_type, event_timestamp
    from {{ ref('fct_events') }}

),

int_items_keyed as (

    select * from {{ ref('int_items_keyed') }}

),

feature_snapshots as (

    select * from {{ ref('feature_snapshots') }}

),

snapshot_times as (

    select
        {%- for name in snapshots %}
        max(snapshot_at) filter (where snapshot_name = '{{ name }}') as {{ name }}_at
        {{- "," if not loop.last }}
        {%- endfor %}
    from feature_snapshots

),

keyed_events as (

    select
        fct_events.session_id,
        fct_events.session_position,
        int_items_keyed.item_key,
        {{ event_weight('fct_events.event_type') }} as weight,
        fct_events.event_timestamp
    from fct_events
    inner join int_items_keyed
        on fct_events.item_id = int_items_keyed.item_id

),

followers as (

    select
        item_key as a_key,
        weight as a_weight
        {%- for gap in range(1, window_size + 1) %},
        lead(item_key, {{ gap }}) over by_session as b{{ gap }}_key,
        lead(weight, {{ gap }}) over by_session as b{{ gap }}_weight,
        lead(event_timestamp, {{ gap }}) over by_session as b{{ gap }}_at
        {%- endfor %}
    from keyed_events
    window by_session as (partition by session_id order by session_position)

),

forward_pairs as (

    -- Event a, then event b `gap` positions later in the same session; b is the later one.
    {%- for gap in range(1, window_size + 1) %}
    select
        a_key,
        a_weight,
        b{{ gap }}_key as b_key,
        b{{ gap }}_weight as b_weight,
        b{{ gap }}_at as paired_at,
        {{ gap }} as gap
    from followers
    where b{{ gap }}_key <> a_key
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

bucketed as (

    select
        least(a_key, b_key) as lo_item_key,
        greatest(a_key, b_key) as hi_item_key,
        paired_at,
        case
            {%- for name in snapshots %}
            when paired_at < {{ name }}_at then {{ loop.index0 }}
            {%- endfor %}
        end as bucket,
        case
            {%- for name in snapshots %}
            when paired_at < {{ name }}_at then {{ name }}_at
            {%- endfor %}
        end as bucket_end_at,
        -- covis(x -> y) adds the weight of y's event; seq(a -> b) runs forward only.
        case when a_key < b_key then b_weight else a_weight end as lo_hi_covis,
        case when a_key < b_key then a_weight else b_weight end as hi_lo_covis,
        case when a_key < b_key then b_weight / gap end as lo_hi_seq,
        case when a_key > b_key then b_weight / gap end as hi_lo_seq
    from forward_pairs
    cross join snapshot_times

),

decayed as (

    select
        *,
        {{ half_life_decay(
            "(" ~ ts_epoch_us('bucket_end_at') ~ " - " ~ ts_epoch_us('paired_at') ~ ") / 1e6",
            half_life
        ) }}
            as decay
    from bucketed

),

final as (

    select
        lo_item_key,
        hi_item_key,
        min(paired_at) as first_paired_at,
        min(paired_at) filter (where lo_hi_seq is not null) as lo_hi_first_followed_at,
        min(paired_at) filter (where hi_lo_seq is not null) as hi_lo_first_followed_at
        {%- for name in snapshots %}
        {%- set bucket = loop.index0 %}
        {%- for part in parts %},
        coalesce(sum({{ part }} * decay) filter (where bucket = {{ bucket }}), 0)
            as {{ part }}_bucket_{{ bucket }}
        {%- endfor %}
        {%- endfor %}
    from decayed
    group by lo_item_key, hi_item_key

)

select * from final
