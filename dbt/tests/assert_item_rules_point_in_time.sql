{{ config(enabled=target.type == 'duckdb') }}  {#- item_rules is a DuckDB Python model -#}
{#-
  Point-in-time guard for item_rules: a rule counts only pairs of events strictly before
  snapshot_at, so every listed item and every listed follower must have such an event. (The
  weights are not recomputed here; the kernel's unit tests show that later events leave an
  earlier snapshot's lists unchanged.)
-#}

{{ lists_seen_before_snapshot('item_rules', 'rule_item_ids') }}
