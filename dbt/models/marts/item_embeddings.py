"""item_embeddings: each item's nearest neighbours in an embedding learned from sessions.

A Python model: a PPMI matrix of in-session co-occurrence, its truncated SVD and a cosine
top-k per item are linear algebra, not SQL. The kernel is recsys/pipeline/item_embeddings.py
(which imports only snapshot_lists of the project); the rules are in docs/contracts.md and
the model's description in item_embeddings.yml.
"""

import os


def model(dbt, session):
    dbt.config(materialized="parquet_export")
    # dbt finds the config keys a model reads in plain dbt.config.get() calls, not inside an
    # expression: read it on its own line.
    build_mode_var = dbt.config.get("build_mode_var")
    from recsys.pipeline.item_embeddings import item_embeddings
    from recsys.pipeline.snapshot_lists import reuses_stored_sets

    return item_embeddings(
        session,
        events=dbt.ref("fct_events"),
        items=dbt.ref("int_items_keyed"),
        snapshots=dbt.ref("feature_snapshots"),
        dims=int(dbt.config.get("embed_dims")),
        top_k=int(dbt.config.get("embed_top_k")),
        window=int(dbt.config.get("embed_window")),
        refresh_days=int(dbt.config.get("list_refresh_days")),
        data_dir=os.environ.get("RECSYS_DATA_DIR"),
        reuse=reuses_stored_sets(build_mode_var),
    )
