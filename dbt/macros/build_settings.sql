{#-
  How this build runs: build_mode ('full' or 'incremental') and incremental_since_day (the
  first UTC day number an incremental build recomputes). A --vars value wins; without one
  they come from the environment, RECSYS_BUILD_MODE and RECSYS_INCREMENTAL_SINCE_DAY, which
  is how `recsys build` and the orchestrator pass them. Why not --vars: dbt parses the whole
  project again whenever --vars differ from the last invocation's (about 5 s on 2 cores, on
  every night, since the day moves), while an environment variable read while a node runs is
  not part of the parse. Both are read only when executing (at parse time a build is full).
-#}

{% macro build_mode() -%}
  {%- if not execute -%}
    {{ return('full') }}
  {%- endif -%}
  {%- set mode = var('build_mode', none) or env_var('RECSYS_BUILD_MODE', 'full') -%}
  {%- if mode not in ('full', 'incremental') -%}
    {{ exceptions.raise_compiler_error(
        "build_mode: expected 'full' or 'incremental', found '" ~ mode
        ~ "' (var build_mode or environment variable RECSYS_BUILD_MODE)"
    ) }}
  {%- endif -%}
  {{ return(mode) }}
{%- endmacro %}


{% macro since_day_setting() -%}
  {#- The day as an integer, or none when neither the var nor the environment gives one. -#}
  {%- set day = var('incremental_since_day', none) -%}
  {%- if day is none -%}
    {%- set day = env_var('RECSYS_INCREMENTAL_SINCE_DAY', '') -%}
  {%- endif -%}
  {%- if day is none or (day | string) == '' -%}
    {{ return(none) }}
  {%- endif -%}
  {%- if not (day | string).lstrip('-').isdigit() -%}
    {{ exceptions.raise_compiler_error(
        "incremental_since_day: expected a UTC day number (days since 1970-01-01), found '"
        ~ day ~ "' (var incremental_since_day or environment variable "
        ~ "RECSYS_INCREMENTAL_SINCE_DAY)"
    ) }}
  {%- endif -%}
  {{ return(day | int) }}
{%- endmacro %}


{% macro sessions_rebuilt_from() -%}
  {#- The first day the session-grain models rebuild on a night, as a scalar subquery of
      int_sessions_rebuilt_from; the ref here also makes that model a parent of the caller
      (and of its materialization's incremental_rebuilt_from). -#}
  (select rebuilt_from_day from {{ ref('int_sessions_rebuilt_from') }})
{%- endmacro %}
