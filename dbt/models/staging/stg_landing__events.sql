{#-
  One row per row of landing/events/*.parquet, typed as the contract says; nothing dropped.
  Each file is read on its own, so a file that lacks a column gets that column's default
  (its own rows only) even when other files have it.
-#}
{%- set location = source('landing', 'events') -%}
{%- do require_landing_files(
    location,
    "load events first, e.g. `recsys ingest generate --events 100000`"
) -%}

{{ landing_event_rows(landing_files(location)) }}
