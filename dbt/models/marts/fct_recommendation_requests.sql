{{ config(tags=['monitoring'], enabled=target.type == 'duckdb') }}
{#-
  One row per answered GET /recommendations (valid impression-log lines). A user is cold-start
  when the warehouse holds no clean event of theirs before the answer.
-#}

with int_impressions_validated as (

    select * from {{ ref('int_impressions_validated') }}
    where quarantine_reason is null

),

fct_events as (

    select user_id, min(event_timestamp) as first_event_at
    from {{ ref('fct_events') }}
    group by user_id

),

timed as (

    select
        request_id,
        list_sum(
            list_transform(
                json_keys(timings_ms),
                key -> try_cast(json_extract(timings_ms, '$."' || key || '"') as double)
            )
        ) as latency_ms,
        from_json(features, '{"names": ["VARCHAR"]}').names as feature_names
    from int_impressions_validated

),

final as (

    select
        int_impressions_validated.request_id,
        int_impressions_validated.served_at,
        int_impressions_validated.user_id,
        int_impressions_validated.session_id,
        int_impressions_validated.model_version,
        coalesce(int_impressions_validated.is_degraded, false) as is_degraded,
        int_impressions_validated.degraded_reason,
        int_impressions_validated.k,
        int_impressions_validated.candidate_count,
        json_array_length(int_impressions_validated.items) as shown_count,
        timed.latency_ms,
        int_impressions_validated.timings_ms,
        timed.feature_names,
        fct_events.first_event_at is null
            or fct_events.first_event_at >= int_impressions_validated.served_at
            as is_cold_start_user,
        int_impressions_validated.landing_file,
        int_impressions_validated.landing_row
    from int_impressions_validated
    left join timed using (request_id)
    left join fct_events using (user_id)

)

select * from final
