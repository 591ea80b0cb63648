"""What `recsys build --target spark` adds around dbt: dbt-spark's session method in pyspark.

The spark target (dbt/profiles.yml) runs the same dbt project on Spark in this process; the
DuckDB target stays the default. Around dbt this module:

- lists the landing files of each source for the models (Spark SQL has no function that lists
  files, and a glob that matches nothing is an error), passed as var spark_landing_files;
- empties $RECSYS_DATA_DIR/spark_files/ first: Spark builds are full builds (no stored
  partitions to reuse), and its models write there (dbt/macros/materializations/
  spark_parquet.sql);
- afterwards writes each exported mart's folder of part files as the one
  exports/<name>.parquet that Feast, training and the server read, with the build id in the
  footer as the DuckDB COPY writes it;
- computes item_embeddings (a randomized SVD) and item_rules (a compiled pass), dbt Python
  models on DuckDB, from the Spark-built tables with the same kernels, so both targets export
  the same marts.

pyspark is imported only here and only on the spark target (the optional `spark` extra).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa
import pyarrow.parquet as pq
import yaml  # type: ignore[import-untyped, unused-ignore]

from recsys import export_sets
from recsys.config import dbt_project_dir

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

TARGET: Final = "spark"
# Selects the dbt target when `recsys build` is not given --target ("local" is DuckDB).
TARGET_ENV: Final = "RECSYS_DBT_TARGET"
DEFAULT_TARGET: Final = "local"
SCHEMA: Final = "recsys"  # the spark target's schema (dbt/profiles.yml)
SOURCES_FILE: Final = Path("models/staging/_landing__sources.yml")
# The part of a source's external_location after the data dir expression.
_LOCATION = re.compile(r"^\{\{.*?\}\}(?P<tail>/.+)$")


def target(requested: str | None = None) -> str:
    """The dbt target of a build: `requested`, else $RECSYS_DBT_TARGET, else DuckDB's."""
    return requested or os.environ.get(TARGET_ENV) or DEFAULT_TARGET


def files_root(data_dir: Path) -> Path:
    return data_dir / "spark_files"


def reset(data_dir: Path) -> None:
    """Remove what an earlier Spark build wrote (a Spark build rewrites everything)."""
    shutil.rmtree(files_root(data_dir), ignore_errors=True)


def landing_files(data_dir: Path) -> dict[str, list[str]]:
    """Source table name -> its landing files, from the globs of the dbt sources file."""
    sources = yaml.safe_load((dbt_project_dir() / SOURCES_FILE).read_text())
    found: dict[str, list[str]] = {}
    for source in sources["sources"]:
        for table in source["tables"]:
            match = _LOCATION.match(table["meta"]["external_location"])
            if match is None:
                raise ValueError(f"{SOURCES_FILE}: unexpected location of {table['name']}")
            pattern = match.group("tail").lstrip("/")
            found[table["name"]] = sorted(str(path) for path in data_dir.glob(pattern))
    return found


def session() -> SparkSession:
    """The Spark session dbt-spark's session method started in this process.

    dbt ran the models in its worker threads, where the session is "active"; from any other
    thread getOrCreate returns that same session (the process has one SparkContext).
    """
    from pyspark.sql import SparkSession

    return SparkSession.builder.getOrCreate()


def table(name: str) -> pa.Table:
    """A model of the last Spark build as an Arrow table."""
    return session().table(f"{SCHEMA}.{name}").toArrow()


def stop() -> None:
    """Stop this process's Spark session (and its JVM's work); the next build starts one."""
    from pyspark import SparkContext

    if SparkContext._active_spark_context is not None:  # no public "is one running?"
        session().stop()


def publish_exports(data_dir: Path, build: export_sets.Build) -> list[str]:
    """Write each exported mart's Spark folder as one Parquet file into the build folder.

    Written next to the target and renamed over it: the build folder starts with hard links
    to the files in service, which must not change under their readers.
    """
    written = []
    for folder in sorted((files_root(data_dir) / "exports").iterdir()):
        if folder.is_dir():
            _write_export(pq.read_table(folder), build, folder.name)
            written.append(folder.name)
    return written


def _write_export(rows: pa.Table, build: export_sets.Build, name: str) -> None:
    metadata = {**(rows.schema.metadata or {}), export_sets.BUILD_KEY: build.build_id.encode()}
    # Spark's own footer entries describe its folder, not this file.
    metadata = {k: v for k, v in metadata.items() if not k.startswith(b"org.apache.spark")}
    target_path = build.folder / f"{name}.parquet"
    tmp = target_path.with_name(f".{name}.parquet.tmp")
    pq.write_table(rows.replace_schema_metadata(metadata), tmp)
    tmp.replace(target_path)


# The dbt Python models (DuckDB only) that a Spark build computes after dbt, in this order.
PYTHON_MARTS: Final = ("item_embeddings", "item_rules")


def export_python_marts(build: export_sets.Build, vars: dict[str, Any]) -> None:
    """item_embeddings and item_rules from the Spark-built tables, by the kernels the DuckDB
    models run."""
    import duckdb

    from recsys.pipeline.item_embeddings import item_embeddings
    from recsys.pipeline.item_rules import item_rules

    project = yaml.safe_load((dbt_project_dir() / "dbt_project.yml").read_text())["vars"]
    settings = {**project, **vars}
    con = duckdb.connect()
    try:
        # Registered Arrow tables: the kernels read them through the same DuckDB relations
        # the Python models get from dbt.ref().
        for name in ("fct_events", "int_items_keyed", "feature_snapshots"):
            con.register(name, table(name))
        events = con.table("fct_events")
        items = con.table("int_items_keyed")
        snapshots = con.table("feature_snapshots")
        embeddings = item_embeddings(
            con,
            events=events,
            items=items,
            snapshots=snapshots,
            dims=int(settings["embed_dims"]),
            top_k=int(settings["embed_top_k"]),
            window=int(settings["embed_window"]),
            refresh_days=int(settings["list_refresh_days"]),  # every Spark build is full
        )
        _write_export(embeddings, build, "item_embeddings")
        rules = item_rules(
            con,
            events=events,
            items=items,
            snapshots=snapshots,
            top_k=int(settings["rules_top_k"]),
            window=int(settings["rules_window"]),
            refresh_days=int(settings["list_refresh_days"]),
        )
        _write_export(rules, build, "item_rules")
    finally:
        con.close()
