"""item_neighbors: each item's top co-visited and sequential neighbours at every snapshot.

A Python model: the ranking of tens of millions of candidate pairs is a compiled pass in
recsys/pipeline/neighbor_lists.py (a kernel module with no other project imports), cheaper
than a SQL window sort.
It sums the decayed pair rows of int_item_pairs_decayed (a SQL view) per pair and snapshot
bucket in the same module; the rules are in docs/contracts.md and the model's description in
item_neighbors.yml.
"""


def model(dbt, session):
    dbt.config(materialized="parquet_export")
    from recsys.pipeline.neighbor_lists import neighbor_lists

    return neighbor_lists(
        session,
        pairs=dbt.ref("int_item_pairs_decayed"),
        items=dbt.ref("int_items_keyed"),
        snapshots=dbt.ref("feature_snapshots"),
        top_k=int(dbt.config.get("covis_top_k")),
        half_life_days=float(dbt.config.get("covis_half_life_days")),
    )
