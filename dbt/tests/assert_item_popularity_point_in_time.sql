{#-
  Point-in-time guard for item_popularity: for a deterministic sample of (item, snapshot)
  rows, recompute the counts and the decayed score from fct_events strictly before
  snapshot_at; also every item with an earlier event must have its row (and only those).
-#}
{%- set sample_rows = 200 -%}
{%- set half_life = var('popularity_half_life_days') -%}
{%- set tolerance = 1e-9 -%}

with item_popularity as (

    select * from {{ ref('item_popularity') }}

),

fct_events as (

    select * from {{ ref('fct_events') }}

),

feature_snapshots as (

    select * from {{ ref('feature_snapshots') }}

),

sampled as (

    select *
    from item_popularity
    order by md5(item_id || '|' || snapshot_name)
    limit {{ sample_rows }}

),

recomputed as (

    select
        sampled.item_id,
        sampled.snapshot_name,
        {%- for days in [1, 7, 30] %}
        count(*) filter (
            where fct_events.event_timestamp >= sampled.event_timestamp - interval {{ days }} days
        ) as events_{{ days }}d,
        {%- endfor %}
        count(*) filter (
            where fct_events.event_type = 'purchase'
                and fct_events.event_timestamp >= sampled.event_timestamp - interval 30 days
        ) as purchases_30d,
        sum({{ half_life_decay(
            "(" ~ ts_epoch_us('sampled.event_timestamp') ~ " - "
                ~ ts_epoch_us('fct_events.event_timestamp') ~ ") / 1e6",
            half_life
        ) }}) as decayed_score
    from sampled
    inner join fct_events
        on fct_events.item_id = sampled.item_id
        and fct_events.event_timestamp < sampled.event_timestamp
    group by all

),

compared as (

    select
        sampled.item_id,
        sampled.snapshot_name,
        {% call non_null_list() %}
            {%- for column in ['events_1d', 'events_7d', 'events_30d', 'purchases_30d'] %}
            case when sampled.{{ column }} is distinct from recomputed.{{ column }}
                then '{{ column }}' end,
            {%- endfor %}
            case when not coalesce(
                    abs(sampled.decayed_score - recomputed.decayed_score)
                        <= {{ tolerance }} * greatest(1, abs(recomputed.decayed_score)),
                    false
                ) then 'decayed_score' end
        {% endcall %} as mismatched_columns
    from sampled
    left join recomputed
        on sampled.item_id = recomputed.item_id
        and sampled.snapshot_name = recomputed.snapshot_name

),

item_first_events as (

    select item_id, min(event_timestamp) as first_event_at
    from fct_events
    group by item_id

),

expected_rows as (

    select feature_snapshots.snapshot_name, count(item_first_events.item_id) as items
    from feature_snapshots
    left join item_first_events
        on item_first_events.first_event_at < feature_snapshots.snapshot_at
    group by all

),

actual_rows as (

    select snapshot_name, count(*) as items from item_popularity group by all

),

failures as (

    select
        item_id || ' @ ' || snapshot_name || ': ' || {{ list_to_text('mismatched_columns', ', ') }}
            as failure
    from compared
    where {{ list_length('mismatched_columns') }} > 0

    union all

    select 'snapshot ' || expected_rows.snapshot_name || ': ' || coalesce(actual_rows.items, 0)
        || ' rows, expected ' || expected_rows.items || ' (items with an event before it)'
    from expected_rows
    left join actual_rows
        on expected_rows.snapshot_name = actual_rows.snapshot_name
    where coalesce(actual_rows.items, 0) <> expected_rows.items

)

select * from failures
