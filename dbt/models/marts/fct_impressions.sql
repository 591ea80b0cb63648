{{ config(tags=['monitoring'], enabled=target.type == 'duckdb') }}
{#- One row per item shown in an answer, with the feature vector the server logged for it. -#}

with int_impressions_validated as (

    select * from {{ ref('int_impressions_validated') }}
    where quarantine_reason is null

),

shown as (

    select
        request_id,
        unnest(
            from_json(items, '[{"item_id": "VARCHAR", "rank": "INTEGER", "score": "DOUBLE"}]')
        ) as item
    from int_impressions_validated

),

logged_vectors as (

    select
        request_id,
        unnest(
            from_json(
                features, '{"rows": [{"item_id": "VARCHAR", "values": ["DOUBLE"]}]}'
            ).rows
        ) as vector
    from int_impressions_validated
    where features is not null

),

final as (

    select
        shown.request_id,
        shown.item.item_id as item_id,
        shown.item.rank as rank,
        shown.item.score as score,
        int_impressions_validated.served_at,
        int_impressions_validated.user_id,
        int_impressions_validated.session_id,
        int_impressions_validated.model_version,
        coalesce(int_impressions_validated.is_degraded, false) as is_degraded,
        logged_vectors.vector."values" as feature_values
    from shown
    join int_impressions_validated using (request_id)
    left join logged_vectors
        on shown.request_id = logged_vectors.request_id
        and shown.item.item_id = logged_vectors.vector.item_id

)

select * from final
