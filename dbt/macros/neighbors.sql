{#- item_covisitation's unnesting of item_neighbors' lists (DuckDB unnest, Spark posexplode). -#}

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
