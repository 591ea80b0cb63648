"""Where the project keeps its files and how it reaches Redis, read from the environment.

Every path has one definition here; the dbt profile, the Feast repo and the server read the
same environment variables, so pointing RECSYS_DATA_DIR elsewhere moves everything at once.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class Paths:
    """The project's file layout under one data directory."""

    data_dir: Path

    @property
    def landing(self) -> Path:
        """Canonical raw files: what ingest writes and dbt's staging reads."""
        return self.data_dir / "landing"

    @property
    def landing_events(self) -> Path:
        return self.landing / "events"

    @property
    def landing_served(self) -> Path:
        """Events the server accepted (JSON lines), read back by the next dbt build."""
        return self.landing / "served"

    @property
    def landing_items(self) -> Path:
        return self.landing / "items.parquet"

    @property
    def landing_users(self) -> Path:
        return self.landing / "users.parquet"

    @property
    def warehouse(self) -> Path:
        override = os.environ.get("RECSYS_WAREHOUSE")
        return Path(override) if override else self.data_dir / "warehouse.duckdb"

    @property
    def exports(self) -> Path:
        """Marts exported as Parquet: Feast's offline sources and the server's item cache."""
        return self.data_dir / "exports"

    @property
    def models(self) -> Path:
        return self.data_dir / "models"

    @property
    def reports(self) -> Path:
        return self.data_dir / "reports"

    @property
    def run(self) -> Path:
        """PID files and state of processes the project started itself."""
        return self.data_dir / "run"

    def export(self, model: str) -> Path:
        return self.exports / f"{model}.parquet"


def data_dir() -> Path:
    return Path(os.environ.get("RECSYS_DATA_DIR", REPO_ROOT / "data")).resolve()


def export_data_dir_env() -> Path:
    """Pin RECSYS_DATA_DIR (absolute) in this process so dbt's profile and Feast's yaml see it."""
    resolved = data_dir()
    os.environ["RECSYS_DATA_DIR"] = str(resolved)
    return resolved


def paths() -> Paths:
    """Return the layout for the current environment (RECSYS_DATA_DIR, default ./data)."""
    return Paths(data_dir())


def feature_repo_dir() -> Path:
    return REPO_ROOT / "feature_repo"


def dbt_project_dir() -> Path:
    return REPO_ROOT / "dbt"


def feast_connection_string(redis_url: str) -> str:
    """Translate a redis:// URL into Feast's `host:port,db=N[,password=...]` form."""
    parsed = urlparse(redis_url)
    if parsed.scheme not in {"redis", "rediss"}:
        raise ValueError(
            f"REDIS_URL {redis_url!r}: expected redis://host:port/db, found scheme "
            f"{parsed.scheme!r}; set REDIS_URL=redis://127.0.0.1:6379/0 or similar"
        )
    host = parsed.hostname or "127.0.0.1"
    port = parsed.port or 6379
    db = (parsed.path or "/0").lstrip("/") or "0"
    parts = [f"{host}:{port}", f"db={db}"]
    if parsed.password:
        parts.append(f"password={parsed.password}")
    if parsed.username:
        parts.append(f"username={parsed.username}")
    if parsed.scheme == "rediss":
        parts.append("ssl=true")
    return ",".join(parts)


def git_revision() -> str:
    """The checked-out commit (short hash, '+dirty' with local changes), or 'unknown'."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{rev}+dirty" if dirty else rev
