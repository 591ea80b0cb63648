{{ config(enabled=target.type != 'duckdb') }}
{#-
  One row per unordered pair of items (lo_item_key < hi_item_key) that ever co-occurred
  within `covis_window` positions of one session, with both directions' decayed co-visitation
  and sequential weight per snapshot bucket (docs/contracts.md gives the formulas): the sums
  of int_item_pairs_decayed, for the SQL version of item_neighbors (marts/spark/). On DuckDB
  the Python item_neighbors sums int_item_pairs_decayed itself, which costs less than this
  group-by of millions of rows plus writing and reading its result.
-#}
{%- set snapshots = snapshot_names() -%}
{%- set parts = pair_parts() -%}

with decayed as (

    select * from {{ ref('int_item_pairs_decayed') }}

),

final as (

    select
        lo_item_key,
        hi_item_key,
        min(first_paired_at) as first_paired_at,
        min(lo_hi_first_followed_at) as lo_hi_first_followed_at,
        min(hi_lo_first_followed_at) as hi_lo_first_followed_at
        {%- for name in snapshots %}
        {%- set bucket = loop.index0 %}
        {%- for part in parts %},
        coalesce(sum({{ part }}) filter (where bucket = {{ bucket }}), 0)
            as {{ part }}_bucket_{{ bucket }}
        {%- endfor %}
        {%- endfor %}
    from decayed
    group by lo_item_key, hi_item_key

)

select * from final
