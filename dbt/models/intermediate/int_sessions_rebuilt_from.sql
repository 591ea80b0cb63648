{#-
  One row: the first UTC day whose session-grain rows an incremental night rebuilds, for
  int_events_aggregated_to_session_items, fct_sessions, session_items and session_state.

  A night's new events (from incremental_since_day on) can extend a session that started
  earlier, or join two gap sessions into one (and renumber the user's later ones), so a
  session's rows can move between days or vanish. Every session that changes has an event
  from incremental_since_day on, so it starts no earlier than the first day of such a
  session: from that day on, each of those models rebuilds all its partitions (keyed by a
  day of the session, between its first and last) from the whole sessions that touch them,
  and empties the ones left without rows (macros/materializations/parquet_export.sql).
  A full build needs no day: null.
-#}
{%- set incremental = build_mode() == 'incremental' and since_day_setting() is not none -%}

{%- if incremental %}
with fct_events as (

    select session_id, event_timestamp from {{ ref('fct_events') }}

),

touched as (

    select distinct session_id
    from fct_events
    where {{ day_number('event_timestamp') }} >= {{ incremental_since_day() }}

)

select least(
    coalesce(min({{ day_number('event_timestamp') }}), {{ incremental_since_day() }}),
    {{ incremental_since_day() }}
) as rebuilt_from_day
from fct_events
where session_id in (select session_id from touched)
{%- else %}
-- depends_on: {{ ref('fct_events') }}
select cast(null as bigint) as rebuilt_from_day
{%- endif %}
