{#-
  Co-visited item pairs, shared by int_item_pair_days (the stored per-day sums) and
  int_item_pairs_decayed (the days a snapshot falls in, which it splits at the snapshot).
-#}

{% macro covis_window_size() -%}
  {%- set window_size = var('covis_window') | int -%}
  {%- if window_size < 1 -%}
    {{ exceptions.raise_compiler_error(
        "var covis_window: expected a whole number of positions >= 1, found "
        ~ var('covis_window') ~ "; pass e.g. --vars '{covis_window: 3}'"
    ) }}
  {%- endif -%}
  {{ return(window_size) }}
{%- endmacro %}


{% macro pair_parts() -%}
  {#- The four weights of a pair row: covis and seq, each direction of lo/hi. -#}
  {{ return(['lo_hi_covis', 'hi_lo_covis', 'lo_hi_seq', 'hi_lo_seq']) }}
{%- endmacro %}


{% macro session_item_pairs_ctes(name, events) -%}
  {#-
    Two CTEs (place them inside a WITH; `name` is the second one): one row per pair of events
    of one session at most covis_window positions apart on different items, with
    lo_item_key < hi_item_key, paired_at (the later event's time) and the four undecayed
    weights of pair_parts() (NULL for a seq direction not taken). `events` has session_id,
    session_position, item_key (an integer key or the item_id: anything ordered as item_id),
    event_type, event_timestamp and must hold whole sessions (lead() pairs an event with the
    ones after it). Pairs come from lead() over each session, no self-join.
  -#}
  {%- set window_size = covis_window_size() -%}
{{ name }}_followers as (

    select
        keyed_events.item_key as a_key,
        keyed_events.weight as a_weight
        {%- for gap in range(1, window_size + 1) %},
        lead(keyed_events.item_key, {{ gap }}) over by_session as b{{ gap }}_key,
        lead(keyed_events.weight, {{ gap }}) over by_session as b{{ gap }}_weight,
        lead(keyed_events.event_timestamp, {{ gap }}) over by_session as b{{ gap }}_at
        {%- endfor %}
    from (
        select
            session_id,
            session_position,
            item_key,
            {{ event_weight('event_type') }} as weight,
            event_timestamp
        from {{ events }}
    ) as keyed_events
    window by_session as (
        partition by keyed_events.session_id order by keyed_events.session_position
    )

),

{{ name }} as (

    select
        least(a_key, b_key) as lo_item_key,
        greatest(a_key, b_key) as hi_item_key,
        paired_at,
        -- covis(x -> y) adds the weight of y's event; seq(a -> b) runs forward only.
        case when a_key < b_key then b_weight else a_weight end as lo_hi_covis,
        case when a_key < b_key then a_weight else b_weight end as hi_lo_covis,
        case when a_key < b_key then b_weight / gap end as lo_hi_seq,
        case when a_key > b_key then b_weight / gap end as hi_lo_seq
    from (
        -- Event a, then event b `gap` positions later in the same session (b is the later).
        {%- for gap in range(1, window_size + 1) %}
        select
            a_key,
            a_weight,
            b{{ gap }}_key as b_key,
            b{{ gap }}_weight as b_weight,
            b{{ gap }}_at as paired_at,
            {{ gap }} as gap
        from {{ name }}_followers
        where b{{ gap }}_key <> a_key
        {%- if not loop.last %}
        union all
        {%- endif %}
        {%- endfor %}
    ) as forward_pairs

)
{%- endmacro %}
