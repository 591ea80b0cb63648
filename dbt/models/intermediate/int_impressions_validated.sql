{{ config(materialized='table', tags=['monitoring'], enabled=target.type == 'duckdb') }}
{#-
  Every impression-log line with, when it is rejected, the reason (first match wins). A
  repeated request_id keeps its earliest line; later copies become 'duplicate request_id'.
  Rejected lines go to impressions_quarantine, never silently away.
-#}

with stg_landing__impressions as (

    select * from {{ ref('stg_landing__impressions') }}

),

checked as (

    select
        *,
        case
            when not is_json_object and is_incomplete_line
                then 'incomplete last line (file being written)'
            when not is_json_object then 'not a JSON object'
            when nullif(trim(request_id), '') is null then 'missing request_id'
            when served_at is null then 'unparseable served_at'
            when nullif(trim(user_id), '') is null then 'missing user_id'
            when items is null or json_type(items) <> 'ARRAY' then 'items is not a list'
        end as rejection
    from stg_landing__impressions

),

ranked as (

    select
        *,
        row_number() over (
            partition by case when rejection is null then request_id end
            order by served_at, landing_file, landing_row
        ) as copy_number
    from checked

),

final as (

    select
        * exclude (rejection, copy_number),
        case
            when rejection is not null then rejection
            when copy_number > 1 then 'duplicate request_id'
        end as quarantine_reason
    from ranked

)

select * from final
