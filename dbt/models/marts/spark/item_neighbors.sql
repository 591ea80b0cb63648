{{ config(materialized='parquet_export', enabled=target.type not in ['duckdb']) }}
{#-
  The SQL version of item_neighbors for adapters that cannot run dbt Python models (dbt-spark's
  session method runs SQL only): the DuckDB target builds marts/item_neighbors.py, whose
  compiled ranking gives the same lists and scores (bit for bit on the 5M-event warehouse when
  it replaced this model; tests/dbt/test_spark.py compares both on every build of the test).

  One row per item per feature snapshot with at least one neighbour: the top `covis_top_k`
  co-visited and sequential neighbours, score descending (ties: neighbour id ascending),
  from pairs whose later event is strictly before snapshot_at.

  The ranking runs once over all (snapshot, kind, item) lists together, on integer keys;
  ids are joined back only for the neighbours that make a list.
-#}
{%- set snapshots = snapshot_names() -%}
{%- set top_k = var('covis_top_k') | int -%}
{%- set half_life = var('covis_half_life_days') -%}

with int_item_pairs_scored as (

    select * from {{ ref('int_item_pairs_scored') }}

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

carry_factors as (

    -- carry_j_k: the decay from snapshot j to a later snapshot k, computed once, not per pair.
    select
        *
        {%- for name in snapshots %}
        {%- set k = loop.index0 %}
        {%- for earlier in snapshots[:k] %},
        {{ half_life_decay(
            "(" ~ ts_epoch_us(name ~ "_at") ~ " - " ~ ts_epoch_us(earlier ~ "_at") ~ ") / 1e6",
            half_life
        ) }} as carry_{{ loop.index0 }}_{{ k }}
        {%- endfor %}
        {%- endfor %}
    from snapshot_times

),

candidates as (

    -- list_key = 2 * snapshot index + (0 for covis, 1 for seq).
    {%- for source, target, direction in [('lo', 'hi', 'lo_hi'), ('hi', 'lo', 'hi_lo')] %}
    {%- set outer_last = loop.last %}
    {%- for name in snapshots %}
    {%- set k = loop.index0 %}
    {%- set snapshot_last = loop.last %}
    {%- for kind in ['covis', 'seq'] %}
    select
        cast({{ 2 * k + loop.index0 }} as {{ sql_type('utinyint') }}) as list_key,
        {{ source }}_item_key as item_key,
        {{ target }}_item_key as neighbor_key,
        {%- for earlier in snapshots[:k + 1] %}
        {{ direction }}_{{ kind }}_bucket_{{ loop.index0 }}
        {{- " * carry_" ~ loop.index0 ~ "_" ~ k if loop.index0 < k }}
        {{- " +" if not loop.last }}
        {%- endfor %}
            as score
    from int_item_pairs_scored
    cross join carry_factors
    where {{ 'first_paired_at' if kind == 'covis' else direction ~ '_first_followed_at' }}
        < {{ name }}_at
    {%- if not (outer_last and snapshot_last and loop.last) %}
    union all
    {%- endif %}
    {%- endfor %}
    {%- endfor %}
    {%- endfor %}

),

top_k as (

    select *
    from candidates
    qualify row_number() over (
        partition by list_key, item_key order by score desc, neighbor_key
    ) <= {{ top_k }}

),

named as (

    select top_k.*, int_items_keyed.item_id as neighbor_item_id
    from top_k
    inner join int_items_keyed
        on top_k.neighbor_key = int_items_keyed.item_key

),

listed as (

    -- list() + list_sort() on (negated score, key, id): ordered aggregates are far slower.
    select
        {{ int_div('list_key', 2) }} as snapshot_index,
        item_key,
        {%- for kind in ['covis', 'seq'] %}
        {{ list_sorted(agg_list(struct_of([
            ['negative_score', '-score'], ['neighbor_key', 'neighbor_key'],
            ['item_id', 'neighbor_item_id']
        ])) ~ ' filter (where list_key % 2 = ' ~ loop.index0 ~ ')') }} as {{ kind }}
        {{- ',' if not loop.last }}
        {%- endfor %}
    from named
    group by all

),

final as (

    select
        int_items_keyed.item_id,
        feature_snapshots.snapshot_name,
        feature_snapshots.snapshot_at as event_timestamp,
        {%- for kind in ['covis', 'seq'] %}
        coalesce(
            {{ list_map('listed.' ~ kind, 'n', 'n.item_id') }}, {{ empty_list('varchar') }}
        ) as {{ kind }}_item_ids,
        coalesce(
            {{ list_map('listed.' ~ kind, 'n', '-n.negative_score') }}, {{ empty_list('double') }}
        ) as {{ kind }}_scores{{ ',' if not loop.last }}
        {%- endfor %}
    from listed
    inner join int_items_keyed
        on listed.item_key = int_items_keyed.item_key
    inner join feature_snapshots
        on feature_snapshots.snapshot_name = case listed.snapshot_index
            {%- for name in snapshots %}
            when {{ loop.index0 }} then '{{ name }}'
            {%- endfor %}
        end

)

select * from final
