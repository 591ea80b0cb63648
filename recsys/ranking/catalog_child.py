"""Build a catalog version in a child process: `python -m recsys.ranking.catalog_child <json>`.

Building a catalog goes through DuckDB, Arrow and pandas, whose memory pools keep what they
allocated after the build is done (measured: about 30 MiB of a 200k-item catalog stayed in the
building worker). Built in a child, that memory leaves with the child and the server worker
only maps the finished files, as every other worker does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from recsys.export_sets import ExportSetError
from recsys.ranking.loading import MissingExportError

# exit codes the parent turns back into the exceptions the server already handles
_ERRORS: dict[int, type[Exception]] = {3: MissingExportError, 4: ExportSetError}


def write_in_child(
    folder: Path,
    *,
    exports: Path,
    snapshot: str,
    item_feature_names: list[str],
    features_as_of: datetime | None,
) -> None:
    """Write `load_catalog(...)` as the version `folder`, in a child process.

    Raises:
        MissingExportError, ExportSetError: As `load_catalog` would, with its message.
        RuntimeError: The child failed otherwise (its output's end is in the message).
    """
    spec = {
        "folder": str(folder),
        "exports": str(exports),
        "snapshot": snapshot,
        "item_feature_names": item_feature_names,
        "features_as_of": features_as_of.isoformat() if features_as_of else None,
    }
    done = subprocess.run(
        [sys.executable, "-m", "recsys.ranking.catalog_child", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode == 0:
        return
    message = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "(no output)"
    error = _ERRORS.get(done.returncode)
    if error is not None:
        raise error(message)
    raise RuntimeError(
        f"building catalog {folder.name} in a child process failed with code "
        f"{done.returncode}: {done.stderr[-2000:]}"
    )


def main(argv: list[str]) -> int:
    """Build and write one version as `write_in_child` describes it; return the exit code."""
    from recsys.ranking.catalog_files import write_catalog
    from recsys.ranking.loading import load_catalog

    spec = json.loads(argv[0])
    as_of = spec["features_as_of"]
    try:
        catalog = load_catalog(
            Path(spec["exports"]),
            snapshot=spec["snapshot"],
            item_feature_names=spec["item_feature_names"],
            features_as_of=datetime.fromisoformat(as_of) if as_of else None,
        )
    except MissingExportError as exc:
        print(exc, file=sys.stderr)
        return 3
    except ExportSetError as exc:
        print(exc, file=sys.stderr)
        return 4
    write_catalog(catalog, Path(spec["folder"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
