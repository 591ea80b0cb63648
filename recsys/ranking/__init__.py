"""Logic shared by training and serving: one definition, imported by both.

- `session`: session state and session features;
- `catalog` / `loading`: item-side state (attributes, neighbours, popularity, past sessions);
- `candidates`: candidate generation (and the relational scores it computes);
- `users`: a user's batch feature row as ranker context;
- `vectors`: the feature matrix the ranker reads;
- `ranker`: loading and scoring a trained model;
- `recommend`: the whole path from session to ranked items.
"""
