{{ config(materialized='parquet_export') }}
{#-
  One row per item per feature snapshot, from events strictly before snapshot_at.

  One pass over the events serves all snapshots. The decayed score uses a factorisation:
  each event is decayed once to the first snapshot after it ("its bucket"), and a bucket's sum
  is carried to later snapshots with one factor, since
  0.5^((S_k - t)/h) = 0.5^((S_j - t)/h) * 0.5^((S_k - S_j)/h) for t < S_j <= S_k.
-#}
{%- set snapshots = snapshot_names() -%}
{%- set half_life = var('popularity_half_life_days') -%}

with fct_events as (

    select item_id, event_type, event_timestamp from {{ ref('fct_events') }}

),

feature_snapshots as (

    select * from {{ ref('feature_snapshots') }}

),

int_items_deduplicated as (

    select item_id, category from {{ ref('int_items_deduplicated') }}

),

snapshot_times as (

    select
        {%- for name in snapshots %}
        max(snapshot_at) filter (where snapshot_name = '{{ name }}') as {{ name }}_at
        {{- "," if not loop.last }}
        {%- endfor %}
    from feature_snapshots

),

bucketed as (

    select
        fct_events.*,
        snapshot_times.*,
        {{ snapshot_bucket('event_timestamp < {name}_at') }}
    from fct_events
    cross join snapshot_times

),

decayed as (

    select
        *,
        {{ half_life_decay(
            "(" ~ ts_epoch_us('bucket_end_at') ~ " - " ~ ts_epoch_us('event_timestamp') ~ ") / 1e6",
            half_life
        ) }} as decay_to_bucket_end
    from bucketed

),

scored as (

    select
        item_id,
        {%- for name in snapshots %}
        count(*) filter (where event_timestamp < {{ name }}_at) as events_before_{{ name }},
        {%- for days in [1, 7, 30] %}
        count(*) filter (
            where event_timestamp < {{ name }}_at
                and event_timestamp >= {{ name }}_at - {{ days_interval(days) }}
        ) as events_{{ days }}d_{{ name }},
        {%- endfor %}
        count(*) filter (
            where event_type = 'purchase'
                and event_timestamp < {{ name }}_at
                and event_timestamp >= {{ name }}_at - {{ days_interval(30) }}
        ) as purchases_30d_{{ name }},
        coalesce(sum(decay_to_bucket_end) filter (where bucket = {{ loop.index0 }}), 0)
            as decayed_bucket_{{ loop.index0 }}
        {{- "," if not loop.last }}
        {%- endfor %}
    from decayed
    group by item_id

),

rolled as (

    select
        scored.*,
        {%- for name in snapshots %}
        {%- set k = loop.index0 %}
        (
            {%- for earlier in snapshots[:k + 1] %}
            decayed_bucket_{{ loop.index0 }} * {{ half_life_decay(
                "(" ~ ts_epoch_us("snapshot_times." ~ name ~ "_at") ~ " - "
                ~ ts_epoch_us("snapshot_times." ~ earlier ~ "_at") ~ ") / 1e6",
                half_life
            ) }}
            {{- " +" if not loop.last }}
            {%- endfor %}
        ) as decayed_score_{{ name }}
        {{- "," if not loop.last }}
        {%- endfor %}
    from scored
    cross join snapshot_times

),

final as (

    {%- for name in snapshots %}
    select
        rolled.item_id,
        '{{ name }}' as snapshot_name,
        snapshot_times.{{ name }}_at as event_timestamp,
        int_items_deduplicated.category,
        rolled.events_1d_{{ name }} as events_1d,
        rolled.events_7d_{{ name }} as events_7d,
        rolled.events_30d_{{ name }} as events_30d,
        rolled.purchases_30d_{{ name }} as purchases_30d,
        rolled.decayed_score_{{ name }} as decayed_score
    from rolled
    cross join snapshot_times
    left join int_items_deduplicated
        on rolled.item_id = int_items_deduplicated.item_id
    where rolled.events_before_{{ name }} > 0
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

)

select * from final
