{#-
  Point-in-time guard for item_neighbors: for a deterministic sample of (item, snapshot)
  rows, recompute co-visitation and sequential scores straight from the session positions
  in fct_events, using only pairs whose events are both strictly before snapshot_at, and
  compare rank by rank (scores within a relative 1e-9, so exact ties may swap places) and
  every listed neighbour's own score.
-#}
{%- set sample_rows = 25 -%}
{%- set window_size = var('covis_window') | int -%}
{%- set half_life = var('covis_half_life_days') -%}
{%- set top_k = var('covis_top_k') | int -%}
{%- set tolerance = 1e-9 -%}

with item_neighbors as (

    select * from {{ ref('item_neighbors') }}

),

fct_events as (

    select * from {{ ref('fct_events') }}

),

sampled as (

    select *
    from item_neighbors
    order by md5(item_id || '|' || snapshot_name)
    limit {{ sample_rows }}

),

anchors as (

    select
        sampled.item_id,
        sampled.snapshot_name,
        sampled.event_timestamp as snapshot_at,
        fct_events.session_id,
        fct_events.session_position,
        fct_events.event_timestamp
    from sampled
    inner join fct_events
        on fct_events.item_id = sampled.item_id
        and fct_events.event_timestamp < sampled.event_timestamp

),

partners as (

    select
        anchors.item_id,
        anchors.snapshot_name,
        fct_events.item_id as neighbor_item_id,
        fct_events.session_position - anchors.session_position as offset_positions,
        {{ event_weight('fct_events.event_type') }}
            * {{ half_life_decay(
                "(" ~ ts_epoch_us('anchors.snapshot_at') ~ " - "
                ~ ts_epoch_us('greatest(anchors.event_timestamp, fct_events.event_timestamp)')
                ~ ") / 1e6",
                half_life
            ) }} as decayed_weight
    from anchors
    inner join fct_events
        on fct_events.session_id = anchors.session_id
        and fct_events.session_position
            between anchors.session_position - {{ window_size }}
            and anchors.session_position + {{ window_size }}
    where fct_events.session_position <> anchors.session_position
        and fct_events.item_id <> anchors.item_id
        and fct_events.event_timestamp < anchors.snapshot_at

),

expected_scores as (

    select
        item_id,
        snapshot_name,
        neighbor_item_id,
        sum(decayed_weight) as covis_score,
        sum(decayed_weight / offset_positions) filter (where offset_positions > 0) as seq_score
    from partners
    group by all

),

expected as (

    select item_id, snapshot_name, 'covis' as kind, neighbor_item_id, covis_score as score
    from expected_scores
    qualify row_number() over (
        partition by item_id, snapshot_name order by covis_score desc, neighbor_item_id
    ) <= {{ top_k }}

    union all

    select item_id, snapshot_name, 'seq', neighbor_item_id, seq_score
    from expected_scores
    where seq_score is not null
    qualify row_number() over (
        partition by item_id, snapshot_name order by seq_score desc, neighbor_item_id
    ) <= {{ top_k }}

),

expected_ranked as (

    select
        *,
        row_number() over (
            partition by item_id, snapshot_name, kind order by score desc, neighbor_item_id
        ) as neighbor_rank
    from expected

),

stored as (

    {%- for kind in ['covis', 'seq'] %}
    select item_id, snapshot_name, kind, neighbor_item_id, score, neighbor_rank
    from ({{ neighbor_rows('sampled', kind) }})
    {%- if not loop.last %}

    union all
    {% endif %}
    {%- endfor %}

),

by_rank as (

    select
        coalesce(stored.item_id, expected_ranked.item_id) as item_id,
        coalesce(stored.snapshot_name, expected_ranked.snapshot_name) as snapshot_name,
        coalesce(stored.kind, expected_ranked.kind) as kind,
        coalesce(stored.neighbor_rank, expected_ranked.neighbor_rank) as neighbor_rank,
        stored.neighbor_item_id as stored_neighbor,
        stored.score as stored_score,
        expected_ranked.neighbor_item_id as expected_neighbor,
        expected_ranked.score as expected_score
    from stored
    full outer join expected_ranked
        on stored.item_id = expected_ranked.item_id
        and stored.snapshot_name = expected_ranked.snapshot_name
        and stored.kind = expected_ranked.kind
        and stored.neighbor_rank = expected_ranked.neighbor_rank

),

own_scores as (

    select
        stored.*,
        case stored.kind
            when 'covis' then expected_scores.covis_score
            else expected_scores.seq_score
        end as recomputed_score
    from stored
    left join expected_scores
        on stored.item_id = expected_scores.item_id
        and stored.snapshot_name = expected_scores.snapshot_name
        and stored.neighbor_item_id = expected_scores.neighbor_item_id

),

failures as (

    select
        item_id || ' @ ' || snapshot_name || ' ' || kind || ' rank ' || neighbor_rank
            || ': stored ' || coalesce(stored_neighbor || ' ' || stored_score, 'nothing')
            || ', expected ' || coalesce(expected_neighbor || ' ' || expected_score, 'nothing')
            as failure
    from by_rank
    where not coalesce(
        abs(stored_score - expected_score) <= {{ tolerance }} * greatest(1, abs(expected_score)),
        false
    )

    union all

    select
        item_id || ' @ ' || snapshot_name || ' ' || kind || ': neighbour ' || neighbor_item_id
            || ' stored with ' || score || ', recomputed ' || coalesce(recomputed_score::{{ sql_type('varchar') }}, 'nothing')
    from own_scores
    where not coalesce(
        abs(score - recomputed_score) <= {{ tolerance }} * greatest(1, abs(recomputed_score)),
        false
    )

)

select * from failures
