"""item_rules: each item's heaviest sequential rules (SR, gap-decayed) at every snapshot.

A Python model: counting the pairs of a 10-position window and ranking each item's rules is a
compiled pass, cheaper than a SQL self-join of that width. The kernel is
recsys/pipeline/item_rules.py; the rules are in docs/contracts.md and the model's
description in item_rules.yml.
"""

import os


def model(dbt, session):
    dbt.config(materialized="parquet_export")
    # dbt finds the config keys a model reads in plain dbt.config.get() calls, not inside an
    # expression: read it on its own line.
    build_mode_var = dbt.config.get("build_mode_var")
    from recsys.pipeline.item_rules import item_rules
    from recsys.pipeline.snapshot_lists import reuses_stored_sets

    return item_rules(
        session,
        events=dbt.ref("fct_events"),
        items=dbt.ref("int_items_keyed"),
        snapshots=dbt.ref("feature_snapshots"),
        top_k=int(dbt.config.get("rules_top_k")),
        window=int(dbt.config.get("rules_window")),
        refresh_days=int(dbt.config.get("list_refresh_days")),
        data_dir=os.environ.get("RECSYS_DATA_DIR"),
        reuse=reuses_stored_sets(build_mode_var),
    )
