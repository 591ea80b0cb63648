{#-
  Every landing row (events files and served JSON lines) with its cleaned values and, when it
  is rejected, the reason (a category) and the offending value (quarantine_detail). The first
  matching reason wins, in the order of docs/contracts.md; among valid rows a repeated event_id
  keeps the earliest copy and the others become duplicates. The landing values as found are
  kept only on rejected rows, so the clean 99.9% stay narrow.

  Incremental (dbt/README.md): stored per landing file, each row with its file's load id
  (name, size, modification time). An incremental build reads only files whose load id is
  new, replaces their partitions, counts an event_id already clean in another file as a
  duplicate, and quarantines an event of a new file dated before incremental_since_day as
  'late event_timestamp' (`recsys build` then rebuilds in full unless told --incremental).
-#}
{{ config(incremental_partition='md5(landing_file)') }}
{%- set known_types = event_types() -%}
{%- set events_location = source('landing', 'events') -%}
{%- set loads = landing_loads(events_location, 'events') -%}
{%- do loads.update(landing_loads(source('landing', 'served_events'), 'served')) -%}
{%- set incremental = is_incremental_build() -%}
{%- set stored_loads = {} -%}
{%- if incremental -%}
  {%- set stored = run_query(
      "select distinct landing_file, load_id from read_parquet('" ~ partition_glob()
      ~ "', hive_partitioning = false)"
  ) -%}
  {%- for row in stored.rows -%}{%- do stored_loads.update({row[0]: row[1]}) -%}{%- endfor -%}
{%- endif -%}
{%- set changed = [] -%}
{%- for landing_file, load_id in loads.items() | sort -%}
  {%- if stored_loads.get(landing_file) != load_id -%}{%- do changed.append(landing_file) -%}{%- endif -%}
{%- endfor -%}

with stg_landing__events as (

    {%- if incremental %}
    -- depends_on: {{ ref('stg_landing__events') }}
    {%- set changed_paths = [] -%}
    {%- for path in landing_files(events_location) -%}
      {%- if 'events/' ~ path.replace('\\', '/').split('/')[-1] in changed -%}
        {%- do changed_paths.append(path) -%}
      {%- endif -%}
    {%- endfor %}
    {{ landing_event_rows(changed_paths) }}
    {%- else %}
    select * from {{ ref('stg_landing__events') }}
    {%- endif %}

),

stg_landing__served_events as (

    select {{ star_except(['received_at', 'request_id']) }} from {{ ref('stg_landing__served_events') }}
    {%- if incremental %}
    where landing_file in ({{ sql_strings(changed) }})
    {%- endif %}

),

loads as (

    select * from (values
        {%- for landing_file, load_id in loads.items() | sort %}
        ({{ sql_strings([landing_file]) }}, {{ sql_strings([load_id]) }}){{ ',' if not loop.last }}
        {%- else %}
        (null, null)
        {%- endfor %}
    ) as loads (landing_file, load_id)

),
{%- if incremental %}

-- What earlier loads stored: event ids clean in files not read again (a new copy of one is a
-- duplicate), and which files were loaded before (only a new file's events can be late).
stored_clean_ids as (

    select distinct event_id
    from {{ this }}
    where quarantine_reason is null
        and landing_file not in ({{ sql_strings(changed) }})

),
{%- endif %}

landing_rows as (

    select * from stg_landing__events
    {{ union_all_by_name() }}
    select * from stg_landing__served_events

),

trimmed as (

    select
        *,
        coalesce(
            nullif(trim(event_id), ''),
            md5(source_file || ':' || source_row)
        ) as resolved_event_id,
        nullif(trim(user_id), '') as clean_user_id,
        nullif(trim(session_id), '') as clean_session_id,
        nullif(trim(item_id), '') as clean_item_id,
        nullif(trim(event_type), '') as clean_event_type
    from landing_rows

),

checked as (

    select
        *,
        case
            when clean_user_id is null then 'missing user_id'
            when clean_item_id is null then 'missing item_id'
            {#- The id rule of recsys/ids.py (the API refuses the same ids), on trimmed ids. #}
            {%- for field in ['user_id', 'item_id', 'session_id', 'event_id'] %}
            {%- set value = 'resolved_event_id' if field == 'event_id' else 'clean_' ~ field %}
            when length({{ value }}) > {{ var('id_max_length') }}
                then 'invalid {{ field }}: {{ var('id_reason_too_long') }}'
            when {{ regex_matches(value, var('id_forbidden_re2')) }}
                then 'invalid {{ field }}: {{ var('id_reason_forbidden') }}'
            {%- endfor %}
            when clean_event_type is null then 'missing event_type'
            when clean_event_type not in ('{{ known_types | join("', '") }}')
                then 'unknown event_type'
            when event_timestamp is null then 'unparseable event_timestamp'
            when event_timestamp > {{ build_time() }}
                + {{ minutes_interval(var('max_future_skew_minutes')) }}
                then 'future event_timestamp'
            -- before any plausible event (a unit misread, a 0 or a sentinel); the value stays
            -- in event_timestamp and event_timestamp_raw
            when event_timestamp < cast('{{ var("min_event_timestamp") }}' as {{ sql_type('timestamptz') }})
                then 'implausible event_timestamp'
            {%- if incremental %}
            -- older than the days this incremental build recomputes
            when {{ day_number('event_timestamp') }} < {{ incremental_since_day() }}
                and landing_file not in ({{ sql_strings(stored_loads.keys() | list) }})
                then 'late event_timestamp'
            {%- endif %}
        end as invalid_reason
    from trimmed

),

detailed as (

    -- The reason stays a category (one row per reason when grouped); the offending value
    -- goes in its own column.
    select
        *,
        case
            when invalid_reason like 'invalid user_id:%' then clean_user_id
            when invalid_reason like 'invalid item_id:%' then clean_item_id
            when invalid_reason like 'invalid session_id:%' then clean_session_id
            when invalid_reason like 'invalid event_id:%' then resolved_event_id
            when invalid_reason = 'unknown event_type' then event_type
            when invalid_reason = 'unparseable event_timestamp'
                then coalesce(event_timestamp_raw, '')
            when invalid_reason in (
                'future event_timestamp', 'implausible event_timestamp', 'late event_timestamp'
            )
                then {{ iso_utc_text('event_timestamp') }}
        end as invalid_detail
    from checked

),

repeated_event_ids as (

    -- Repeats are rare: find them with one aggregation, then rank only those rows.
    select resolved_event_id
    from detailed
    where invalid_reason is null
    group by resolved_event_id
    having count(*) > 1

),

repeated_ranked as (

    select
        landing_file,
        landing_row,
        row_number() over (
            partition by resolved_event_id
            order by event_timestamp, source_file, source_row, landing_file, landing_row
        ) as copy_number
    from detailed
    where invalid_reason is null
        and resolved_event_id in (select resolved_event_id from repeated_event_ids)

),

{#- Only a valid row can be a duplicate (repeated_ranked holds valid rows only). -#}
{%- set repeated -%}
(repeated_ranked.copy_number > 1
    {%- if incremental %}
    or (detailed.invalid_reason is null and stored_clean_ids.event_id is not null)
    {%- endif %})
{%- endset %}

flagged as (

    select
        detailed.*,
        coalesce(
            detailed.invalid_reason,
            case when {{ repeated }} then 'duplicate event_id' end
        ) as quarantine_reason,
        coalesce(
            detailed.invalid_detail,
            case when {{ repeated }} then detailed.resolved_event_id end
        ) as quarantine_detail,
        detailed.invalid_reason is null and coalesce({{ repeated }}, false) as is_duplicate
    from detailed
    left join repeated_ranked
        on detailed.landing_file = repeated_ranked.landing_file
        and detailed.landing_row = repeated_ranked.landing_row
    {%- if incremental %}
    -- an equality join only: a condition on one side would make it a nested loop join
    left join stored_clean_ids
        on detailed.resolved_event_id = stored_clean_ids.event_id
    {%- endif %}

),

final as (

    select
        landing_file,
        landing_row,
        (select load_id from loads where loads.landing_file = flagged.landing_file) as load_id,
        source_file,
        source_row,
        resolved_event_id as event_id,
        clean_user_id as user_id,
        clean_session_id as session_id,
        clean_item_id as item_id,
        clean_event_type as event_type,
        event_timestamp,
        quarantine_reason,
        quarantine_detail,
        is_duplicate,
        -- The landing values as found, for events_quarantine (NULL on clean rows).
        case when quarantine_reason is not null then event_id end as landing_event_id,
        case when quarantine_reason is not null then user_id end as landing_user_id,
        case when quarantine_reason is not null then session_id end as landing_session_id,
        case when quarantine_reason is not null then item_id end as landing_item_id,
        case when quarantine_reason is not null then event_type end as landing_event_type,
        case when quarantine_reason is not null then event_timestamp_raw end
            as event_timestamp_raw
    from flagged

)

select * from final
