{{ config(tags=['monitoring'], enabled=target.type == 'duckdb') }}

with int_impressions_validated as (

    select * from {{ ref('int_impressions_validated') }}

),

final as (

    select
        landing_file,
        landing_row,
        quarantine_reason,
        request_id,
        served_at_raw,
        line_raw
    from int_impressions_validated
    where quarantine_reason is not null

)

select * from final
