{{ config(enabled=target.type == 'duckdb') }}  {#- item_embeddings is a DuckDB Python model -#}
{#-
  Point-in-time guard for item_embeddings: an item gets a vector at a snapshot only from
  events strictly before snapshot_at, so every listed item and every listed neighbour must
  have such an event. (The lists themselves are an SVD, not recomputed here; the kernel's
  unit tests show that later events leave an earlier snapshot's lists unchanged.)
-#}

{{ lists_seen_before_snapshot('item_embeddings', 'embed_item_ids') }}
