{#- Time helpers. All days are UTC days, whatever the session's time zone. -#}

{% macro day_number(ts) -%}
  {{ return(adapter.dispatch('day_number', 'recsys')(ts)) }}
{%- endmacro %}

{% macro default__day_number(ts) -%}
  {#-
    Days since 1970-01-01 (UTC) as an integer: the UTC day of an event, and the ORDER BY of
    RANGE window frames. Integer arithmetic on the microseconds is exact and about ten times
    cheaper than converting through AT TIME ZONE; fdiv rounds down for dates before 1970.
  -#}
  cast(fdiv(epoch_us({{ ts }}), 86400000000) as bigint)
{%- endmacro %}

{% macro spark__day_number(ts) -%}
  {#- The session time zone is UTC (profile), so to_date gives the UTC day. -#}
  cast(unix_date(to_date({{ ts }})) as bigint)
{%- endmacro %}


{% macro day_date(day_number) -%}
  {{ return(adapter.dispatch('day_date', 'recsys')(day_number)) }}
{%- endmacro %}

{% macro default__day_date(day_number) -%}
  (date '1970-01-01' + cast({{ day_number }} as integer))
{%- endmacro %}

{% macro spark__day_date(day_number) -%}
  date_from_unix_date(cast({{ day_number }} as int))
{%- endmacro %}


{% macro utc_date(ts) -%}
  {{ day_date(day_number(ts)) }}
{%- endmacro %}


{% macro date_start(day) -%}
  {{ return(adapter.dispatch('date_start', 'recsys')(day)) }}
{%- endmacro %}

{% macro default__date_start(day) -%}
  {#- Midnight UTC of a DATE, as timestamptz. -#}
  (cast({{ day }} as timestamp) at time zone 'UTC')
{%- endmacro %}

{% macro spark__date_start(day) -%}
  cast({{ day }} as timestamp)
{%- endmacro %}


{% macro epoch_seconds(ts) -%}
  {#- Float epoch seconds with microsecond precision. -#}
  ({{ ts_epoch_us(ts) }} / 1e6)
{%- endmacro %}


{% macro build_time() -%}
  {#- "Now" for validation: var build_time when set (deterministic tests), else the clock. -#}
  {%- if var('build_time') is none -%}
    current_timestamp
  {%- else -%}
    cast('{{ var("build_time") }}' as {{ sql_type('timestamptz') }})
  {%- endif -%}
{%- endmacro %}


{% macro event_weight(event_type) -%}
  {#- Co-visitation weight of an event: a purchase says more about an item than a view. -#}
  (case {{ event_type }} when 'purchase' then {{ double_literal('3.0') }}
      when 'add_to_cart' then {{ double_literal('2.0') }} else {{ double_literal('1.0') }} end)
{%- endmacro %}


{% macro half_life_decay(age_seconds, half_life_days) -%}
  pow(0.5, ({{ age_seconds }}) / ({{ half_life_days }} * 86400.0))
{%- endmacro %}


{% macro snapshot_names() -%}
  {#- The feature snapshots, in time order (feature_snapshots has one row per name). -#}
  {{ return(['train', 'valid', 'test', 'serving']) }}
{%- endmacro %}


{% macro snapshot_bucket(before) -%}
  {#-
    Two columns for rows bucketed by the first snapshot they fall before: bucket (its index in
    time order) and bucket_end_at (its time); null after the last. `before` is the condition
    with `{name}` for a snapshot's name, e.g. 'paired_at < {name}_at'; the rows carry the
    <name>_at columns of the model's snapshot_times.
  -#}
  case
      {%- for name in snapshot_names() %}
      when {{ before | replace('{name}', name) }} then {{ loop.index0 }}
      {%- endfor %}
  end as bucket,
  case
      {%- for name in snapshot_names() %}
      when {{ before | replace('{name}', name) }} then {{ name }}_at
      {%- endfor %}
  end as bucket_end_at
{%- endmacro %}


{% macro event_types() -%}
  {{ return(['view', 'add_to_cart', 'purchase']) }}
{%- endmacro %}
