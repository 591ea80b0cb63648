{#-
  The incremental path of user_features and item_features: the entities active on the
  recomputed days, and the sums of their days before the 30-day windows of the rebuilt rows
  (the all-history totals start from these).
-#}

{% macro active_entities(relation, key) -%}
    select distinct {{ key }} from {{ relation }}
    where day_number >= {{ incremental_since_day() }}
{%- endmacro %}


{% macro earlier_totals(relation, key, active, sums) -%}
    select
        {{ key }},
        {%- for column in sums %}
        sum({{ column }}) as {{ column }},
        {%- endfor %}
        min(first_event_at) as first_event_at
    from {{ relation }}
    where day_number < {{ incremental_since_day() }} - 29
        and {{ key }} in (select {{ key }} from {{ active }})
    group by {{ key }}
{%- endmacro %}
