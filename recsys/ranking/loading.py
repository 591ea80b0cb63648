"""Read a Catalog from the exported marts (the Parquet files Feast's sources point at).

Training asks for the catalog of a window's snapshot (train/valid/test: built from events
strictly before the window starts); the server asks for the `serving` snapshot with item
features as of the last materialization, i.e. exactly the rows Feast wrote to Redis.
Reading the Parquet exports, never the warehouse file, keeps readers off dbt's write lock.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from recsys import export_sets
from recsys.ranking.catalog import Catalog, build_catalog

# The exports a catalog is computed from (shared_catalog keys its versions on them).
CATALOG_EXPORTS = (
    "data_windows",
    "dim_items",
    "item_neighbors",
    "item_embeddings",
    "item_rules",
    "item_popularity",
    "session_items",
    "item_features",
)


class MissingExportError(FileNotFoundError):
    """A mart export the catalog needs is not there yet."""


def _require(exports: Path, name: str) -> str:
    path = exports / f"{name}.parquet"
    if not path.exists():
        raise MissingExportError(
            f"{path} not found: the warehouse has not been built into {exports}; "
            "run `make features` (dbt build + feast apply + materialize) first"
        )
    return str(path)


def snapshot_time(exports: Path, snapshot: str) -> datetime:
    """Return when `snapshot` (train/valid/test/serving) was taken."""
    windows = _require(exports, "data_windows")
    with duckdb.connect() as con:
        rows = con.execute(
            f"select window_name, starts_at, ends_at from read_parquet('{windows}')"
        ).fetchall()
    starts = {name: start for name, start, _ in rows}
    if snapshot == "serving":
        return max(end for _, _, end in rows)
    if snapshot not in starts:
        raise ValueError(
            f"snapshot {snapshot!r}: expected one of train, valid, test, serving; "
            f"data_windows has {sorted(starts)}"
        )
    return starts[snapshot]


def load_catalog(
    exports: Path,
    *,
    snapshot: str,
    item_feature_names: list[str],
    features_as_of: datetime | None = None,
) -> Catalog:
    """Build the Catalog of one snapshot from the exports.

    Args:
        exports: Folder of exported marts.
        snapshot: train / valid / test / serving.
        item_feature_names: numeric item features, in the order the ranker reads them.
        features_as_of: Cut-off for item feature rows (default: the snapshot time); the
            server passes the end of the last materialization.
    """
    # one resolved folder for every read: a build published meanwhile cannot mix in
    exports = export_sets.resolve(exports, list(CATALOG_EXPORTS))
    as_of = snapshot_time(exports, snapshot)
    cutoff = features_as_of or as_of
    paths = {
        name: _require(exports, name)
        for name in (
            "dim_items",
            "item_neighbors",
            "item_embeddings",
            "item_rules",
            "item_popularity",
            "session_items",
            "item_features",
        )
    }
    feature_cols = ", ".join(f'"{c}"' for c in item_feature_names)
    with duckdb.connect() as con:
        con.execute("set threads to 2")
        items = _arrow(
            con,
            # sorted: indices then follow item ids, so tie-breaks by index do not depend on
            # which other items exist (a build with more items ranks the common ones the same)
            "select item_id, category, price, title "
            f"from read_parquet('{paths['dim_items']}') order by item_id",
        )
        neighbors = _arrow(
            con,
            "select item_id, covis_item_ids, covis_scores, seq_item_ids, seq_scores "
            f"from read_parquet('{paths['item_neighbors']}') where snapshot_name = ?",
            [snapshot],
        )
        embeddings = _arrow(
            con,
            "select item_id, embed_item_ids, embed_scores "
            f"from read_parquet('{paths['item_embeddings']}') where snapshot_name = ?",
            [snapshot],
        )
        rules = _arrow(
            con,
            "select item_id, rule_item_ids, rule_scores "
            f"from read_parquet('{paths['item_rules']}') where snapshot_name = ?",
            [snapshot],
        )
        popularity = _arrow(
            con,
            "select item_id, decayed_score, events_1d "
            f"from read_parquet('{paths['item_popularity']}') where snapshot_name = ?",
            [snapshot],
        )
        sessions = _arrow(
            con,
            "select session_id, item_id, session_ended_at "
            f"from read_parquet('{paths['session_items']}') where session_ended_at < ?",
            [as_of],
        )
        features = _arrow(
            con,
            f"select item_id, {feature_cols} from read_parquet('{paths['item_features']}') "
            "where event_timestamp <= ? "
            "qualify row_number() over (partition by item_id order by event_timestamp desc) = 1",
            [cutoff],
        )
    return build_catalog(
        as_of=as_of,
        items=items,
        neighbors=neighbors,
        popularity=popularity,
        session_items=sessions,
        item_features=features,
        item_feature_names=item_feature_names,
        embeddings=embeddings,
        rules=rules,
    )


def _arrow(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pa.Table:
    return con.execute(sql, params or []).to_arrow_table()
