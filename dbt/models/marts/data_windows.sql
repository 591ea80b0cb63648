{{ config(materialized='parquet_export') }}
{#-
  Time windows for training and evaluation, from quantiles of clean event time:
  history = the first (1 - train - valid - test) of events, then train, valid, test.
  Half-open [starts_at, ends_at); test ends 1 microsecond after the last event.
  Var `window_starts` ({train: ts, valid: ts, test: ts}, ISO-8601 UTC) pins the boundaries
  instead: for splits by calendar date, and for comparing two builds window by window.
-#}
{%- set pinned = var('window_starts', none) -%}
{%- set train = var('train_fraction') | float -%}
{%- set valid = var('valid_fraction') | float -%}
{%- set test = var('test_fraction') | float -%}
{%- set history = (1.0 - train - valid - test) | round(12) -%}
{%- if history < 0 or train < 0 or valid < 0 or test < 0 -%}
  {{ exceptions.raise_compiler_error(
      "vars train_fraction/valid_fraction/test_fraction: expected non-negative shares summing "
      ~ "to at most 1, found " ~ train ~ "/" ~ valid ~ "/" ~ test
      ~ "; pass e.g. --vars '{train_fraction: 0.3, valid_fraction: 0.1, test_fraction: 0.1}'"
  ) }}
{%- endif -%}

with fct_events as (

    select event_timestamp from {{ ref('fct_events') }}

),

bounds as (

    select
        min(event_timestamp) as first_event_at,
        {%- if pinned %}
        {%- set pinned_cuts = [] %}
        {%- for name in ['train', 'valid', 'test'] %}
        {%- do pinned_cuts.append("cast('" ~ pinned[name] ~ "' as " ~ sql_type('timestamptz') ~ ")") %}
        {%- endfor %}
        {{ list_literal(pinned_cuts) }} as cut_points,
        {%- else %}
        {{ quantiles_disc('event_timestamp', [
            history, (history + train) | round(12), (history + train + valid) | round(12)
        ]) }} as cut_points,
        {%- endif %}
        max(event_timestamp) + interval 1 microsecond as after_last_event_at
    from fct_events

),

final as (

    select 'history' as window_name, first_event_at as starts_at, {{ list_at('cut_points', 1) }} as ends_at
    from bounds
    union all
    select 'train', {{ list_at('cut_points', 1) }}, {{ list_at('cut_points', 2) }} from bounds
    union all
    select 'valid', {{ list_at('cut_points', 2) }}, {{ list_at('cut_points', 3) }} from bounds
    union all
    select 'test', {{ list_at('cut_points', 3) }}, after_last_event_at from bounds

)

select * from final
