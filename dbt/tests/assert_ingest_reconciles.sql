{#-
  Every landing row is accounted for: raw = clean + quarantined + duplicates per source file
  and in total, raw matches the landing files, clean matches fct_events, and quarantined +
  duplicates match events_quarantine. One row per broken rule, saying what differs.
-#}

with ingest_reconciliation as (

    select * from {{ ref('ingest_reconciliation') }}

),

stg_landing__events as (

    select count(*) as landing_rows from {{ ref('stg_landing__events') }}

),

stg_landing__served_events as (

    select count(*) as landing_rows from {{ ref('stg_landing__served_events') }}

),

fct_events as (

    select count(*) as clean_rows from {{ ref('fct_events') }}

),

events_quarantine as (

    select count(*) as rejected_rows from {{ ref('events_quarantine') }}

),

totals as (

    select
        coalesce(sum(raw_rows), 0) as raw_rows,
        coalesce(sum(clean_rows), 0) as clean_rows,
        coalesce(sum(quarantined_rows + duplicate_rows), 0) as rejected_rows
    from ingest_reconciliation

),

per_file as (

    select
        'source_file ' || source_file || ': raw_rows ' || raw_rows
            || ' != clean_rows ' || clean_rows || ' + quarantined_rows ' || quarantined_rows
            || ' + duplicate_rows ' || duplicate_rows as failure
    from ingest_reconciliation
    where raw_rows <> clean_rows + quarantined_rows + duplicate_rows

),

in_total as (

    select 'total raw_rows ' || totals.raw_rows || ' != landing rows '
        || (stg_landing__events.landing_rows + stg_landing__served_events.landing_rows)
        as failure
    from totals, stg_landing__events, stg_landing__served_events
    where totals.raw_rows
        <> stg_landing__events.landing_rows + stg_landing__served_events.landing_rows

    union all

    select 'total clean_rows ' || totals.clean_rows || ' != count(fct_events) '
        || fct_events.clean_rows
    from totals, fct_events
    where totals.clean_rows <> fct_events.clean_rows

    union all

    select 'total quarantined_rows + duplicate_rows ' || totals.rejected_rows
        || ' != count(events_quarantine) ' || events_quarantine.rejected_rows
    from totals, events_quarantine
    where totals.rejected_rows <> events_quarantine.rejected_rows

)

select * from per_file
union all
select * from in_total
