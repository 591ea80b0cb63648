{#-
  Where every landing row went, per source_file. Raw counts come straight from staging and
  clean counts from the validated events, so the reconciliation test checks the pipeline
  rather than restating one query.
-#}

with stg_landing__events as (

    select source_file from {{ ref('stg_landing__events') }}

),

stg_landing__served_events as (

    select source_file from {{ ref('stg_landing__served_events') }}

),

int_events_validated as (

    select source_file from {{ ref('int_events_validated') }}
    where quarantine_reason is null

),

events_quarantine as (

    select source_file, is_duplicate from {{ ref('events_quarantine') }}

),

raw_counts as (

    select source_file, count(*) as raw_rows
    from (
        select source_file from stg_landing__events
        union all
        select source_file from stg_landing__served_events
    )
    group by source_file

),

clean_counts as (

    select source_file, count(*) as clean_rows
    from int_events_validated
    group by source_file

),

rejected_counts as (

    select
        source_file,
        count(*) filter (where not is_duplicate) as quarantined_rows,
        count(*) filter (where is_duplicate) as duplicate_rows
    from events_quarantine
    group by source_file

),

final as (

    select
        coalesce(raw_counts.source_file, clean_counts.source_file, rejected_counts.source_file)
            as source_file,
        coalesce(raw_counts.raw_rows, 0) as raw_rows,
        coalesce(clean_counts.clean_rows, 0) as clean_rows,
        coalesce(rejected_counts.quarantined_rows, 0) as quarantined_rows,
        coalesce(rejected_counts.duplicate_rows, 0) as duplicate_rows
    from raw_counts
    full outer join clean_counts
        on raw_counts.source_file = clean_counts.source_file
    full outer join rejected_counts
        on coalesce(raw_counts.source_file, clean_counts.source_file)
            = rejected_counts.source_file

)

select * from final
