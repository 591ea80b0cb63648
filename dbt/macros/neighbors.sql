{#- item_covisitation's unnesting of item_neighbors' lists (DuckDB unnest, Spark posexplode),
    and the point-in-time guard of the Python list marts. -#}

{% macro neighbor_rows(relation, kind) -%}
  {{ return(adapter.dispatch('neighbor_rows', 'recsys')(relation, kind)) }}
{%- endmacro %}

{% macro default__neighbor_rows(relation, kind) -%}
    select
        item_id,
        unnest({{ kind }}_item_ids) as neighbor_item_id,
        '{{ kind }}' as kind,
        snapshot_name,
        event_timestamp as snapshot_at,
        unnest({{ kind }}_scores) as score,
        unnest(range(1, len({{ kind }}_item_ids) + 1)) as neighbor_rank
    from {{ relation }}
{%- endmacro %}

{% macro spark__neighbor_rows(relation, kind) -%}
    select
        item_id,
        neighbor.{{ kind }}_item_ids as neighbor_item_id,
        '{{ kind }}' as kind,
        snapshot_name,
        event_timestamp as snapshot_at,
        neighbor.{{ kind }}_scores as score,
        cast(neighbor_index + 1 as bigint) as neighbor_rank
    from {{ relation }}
    lateral view posexplode(arrays_zip({{ kind }}_item_ids, {{ kind }}_scores))
        neighbors as neighbor_index, neighbor
{%- endmacro %}

{#-
  The point-in-time guard of a per-snapshot item-list mart built by a Python model
  (item_embeddings, item_rules): every listed item and every item in its `list_column` must
  have an event strictly before the snapshot. Returns one failure row per violation. On an
  incremental build with var list_refresh_days N > 0, only the rows whose lists' cut-off (the
  snapshot's day rounded down to the N-day grid, recsys/pipeline/snapshot_lists.py) is on or
  after incremental_since_day: a set with an earlier cut-off is reused and was checked on the
  night it was computed, and the model checks every set it computes.
-#}
{% macro lists_seen_before_snapshot(model_name, list_column) -%}
with lists as (

    select * from {{ ref(model_name) }}
    {%- if execute and build_mode() == 'incremental'
        and var('incremental_tests', 'new') != 'all' and var('list_refresh_days', 0) | int > 0 %}
    {%- set grid = var('list_refresh_days') | int %}
    {%- set first_line = ((incremental_since_day() | int) + grid - 1) // grid * grid %}
    -- An incremental night with a refresh grid reuses stored list sets, checked when they
    -- were computed: only lists cut off on or after the recomputed days are read here, the
    -- snapshots from the first grid line on or after incremental_since_day (a plain
    -- timestamp bound, so the Parquet reader skips the other snapshots' row groups).
    where event_timestamp >= {{ date_start(day_date(first_line)) }}
    {%- endif %}

),

-- dim_items.first_seen_at is the item's first clean event (min over fct_events).
first_seen as (

    select item_id, first_seen_at as first_event_at
    from {{ ref('dim_items') }}

),

listed as (

    select item_id, snapshot_name, event_timestamp as snapshot_at, item_id as listed_item_id
    from lists

    union all

    select item_id, snapshot_name, event_timestamp, unnest({{ list_column }})
    from lists

),

failures as (

    select
        listed.item_id || ' @ ' || listed.snapshot_name || ': lists ' || listed.listed_item_id
            || ', first seen ' || coalesce(first_seen.first_event_at::{{ sql_type('varchar') }}, 'never')
            || ', not before the snapshot at ' || listed.snapshot_at as failure
    from listed
    left join first_seen
        on listed.listed_item_id = first_seen.item_id
    where not coalesce(first_seen.first_event_at < listed.snapshot_at, false)

)

select * from failures
{%- endmacro %}
