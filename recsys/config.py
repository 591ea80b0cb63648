"""Configuration: where the project keeps its files, how it reaches Redis, the server's knobs.

Every path has one definition here (`Paths`) and every knob one field (`Settings`, read from
the environment); the dbt profile, the Feast repo and the server read the same environment
variables, so pointing RECSYS_DATA_DIR elsewhere moves everything at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from recsys.contract import FEATURE_SERVICE, SESSION_GAP_MINUTES

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
    def landing_impressions(self) -> Path:
        """What the server answered, one JSON line per request (recsys.monitoring.impressions)."""
        return self.landing / "impressions"

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
        """Marts exported as Parquet: Feast's offline sources and the server's item cache.

        A symlink to the last complete build under `export_builds` (see recsys.export_sets).
        """
        return self.data_dir / "exports"

    @property
    def export_builds(self) -> Path:
        """One folder per dbt build; `exports` is a symlink to the one in service."""
        return self.data_dir / "exports.d"

    @property
    def catalog(self) -> Path:
        """Memory-mapped catalog versions the server's workers share (RECSYS_CATALOG_DIR)."""
        return self.data_dir / "catalog"

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

    @property
    def server_pid(self) -> Path:
        """The PID of the `recsys serve` this data directory runs (read by `recsys stop`)."""
        return self.run / "server.pid"

    def export(self, model: str) -> Path:
        return self.exports / f"{model}.parquet"


def data_dir() -> Path:
    return Path(os.environ.get("RECSYS_DATA_DIR", REPO_ROOT / "data")).resolve()


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for a block (child processes inherit them), then restore."""
    previous = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def export_data_dir_env() -> Path:
    """Pin RECSYS_DATA_DIR (absolute) in this process so dbt's profile and Feast's yaml see it."""
    resolved = data_dir()
    os.environ["RECSYS_DATA_DIR"] = str(resolved)
    return resolved


def paths() -> Paths:
    """Return the layout for the current environment (RECSYS_DATA_DIR, default ./data)."""
    return Paths(data_dir())


def project_redis_url() -> str:
    """REDIS_URL's default: the Redis the project started (data/run/redis.url), if any.

    The CLI always sets REDIS_URL for the server; this covers a server started by hand
    (`uvicorn serving.main:create_app --factory`) after `make redis`.
    """
    recorded = paths().run / "redis.url"
    with contextlib.suppress(OSError):
        return recorded.read_text().strip() or DEFAULT_REDIS_URL
    return DEFAULT_REDIS_URL


def feature_repo_dir() -> Path:
    return REPO_ROOT / "feature_repo"


def dbt_project_dir() -> Path:
    return REPO_ROOT / "dbt"


# Query options of a redis(s):// URL that Feast's connection string passes on to redis-py.
_FEAST_URL_OPTIONS = {
    "ssl_ca_certs",
    "ssl_ca_path",
    "ssl_certfile",
    "ssl_keyfile",
    "ssl_cert_reqs",
    "ssl_check_hostname",
    "socket_timeout",
    "socket_connect_timeout",
    "client_name",
}


FEAST_ENV_NAMES = ("FEAST_REDIS_CONNECTION", "FEAST_REDIS_TYPE")


def feast_env(redis_url: str) -> dict[str, str]:
    """What feature_store.yaml reads to reach `redis_url`: the connection string and type.

    `redis_type` is `redis` for a redis(s):// URL and `redis_cluster` for a
    `redis+cluster://` one (Feast then takes every `host:port` item as a seed node, and no
    `db`: a cluster has only database 0).

    Raises:
        ValueError: The URL is malformed or carries an option Feast cannot take.
    """
    from recsys.redis_cluster import is_cluster_url

    if is_cluster_url(redis_url):
        return {
            "FEAST_REDIS_CONNECTION": _feast_cluster_string(redis_url),
            "FEAST_REDIS_TYPE": "redis_cluster",
        }
    return {
        "FEAST_REDIS_CONNECTION": feast_connection_string(redis_url),
        "FEAST_REDIS_TYPE": "redis",
    }


def _feast_cluster_string(redis_url: str) -> str:
    from recsys.redis_cluster import parse_cluster_url

    parsed = parse_cluster_url(redis_url)
    nodes = [f"{host}:{port}" for host, port in parsed.nodes]
    options = _feast_options(
        parsed.username, parsed.password, tls=parsed.tls, options=parsed.options.items()
    )
    return ",".join([*nodes, *options])


def feast_connection_string(redis_url: str) -> str:
    """Translate a redis:// or rediss:// URL into Feast's `host:port,db=N,key=value...` form.

    Feast splits its string on "," and JSON-decodes each value, then hands the items to
    redis-py as keyword arguments; feature_store.yaml quotes it in single quotes. So every
    string value is JSON-encoded here with "," and "'" escaped (\\u002c, \\u0027): a password
    holding any character (after undoing the URL's percent-escapes) reaches redis-py intact,
    and "123" stays a string. URL query options (ssl_ca_certs, ssl_cert_reqs, ...) pass on.
    """
    parsed = urlsplit(redis_url)
    if parsed.scheme not in {"redis", "rediss"}:
        raise ValueError(
            f"REDIS_URL scheme {parsed.scheme!r}: expected redis://[user:password@]host:port/db "
            "or rediss://... for TLS; fix REDIS_URL"
        )
    host = parsed.hostname or "127.0.0.1"
    port = parsed.port or 6379
    db = (parsed.path or "/0").lstrip("/") or "0"
    if not db.isdigit():
        raise ValueError(f"REDIS_URL database {db!r}: expected a number such as /0; fix REDIS_URL")
    options = _feast_options(
        unquote(parsed.username) if parsed.username else None,
        unquote(parsed.password) if parsed.password else None,
        tls=parsed.scheme == "rediss",
        options=parse_qsl(parsed.query),
    )
    return ",".join([f"{host}:{port}", f"db={int(db)}", *options])


def _feast_options(
    username: str | None,
    password: str | None,
    *,
    tls: bool,
    options: Iterable[tuple[str, str]],
) -> list[str]:
    """Feast's `key=value` items after the address(es), shared by single-node and cluster."""
    parts = []
    if username:
        parts.append(f"username={_feast_value(username)}")
    if password:
        parts.append(f"password={_feast_value(password)}")
    if tls:
        parts.append("ssl=true")
    for name, value in options:
        if name not in _FEAST_URL_OPTIONS:
            raise ValueError(
                f"REDIS_URL option {name!r} is not passed to Feast; supported: "
                f"{', '.join(sorted(_FEAST_URL_OPTIONS))}; remove it from REDIS_URL"
            )
        parts.append(f"{name}={_feast_value(value)}")
    return parts


def _feast_value(value: str) -> str:
    """A string as a JSON literal without "," or "'" (Feast's separator, the YAML quote)."""
    return json.dumps(value).replace(",", "\\u002c").replace("'", "\\u0027")


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


class Settings(BaseSettings):
    """Every runtime knob; environment variables use the names in `validation_alias`.

    Read once per process (`get_settings`); the commands and the server share it, so a path or
    a Redis URL is described in one place.
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    data_dir: Path = Field(default_factory=data_dir, validation_alias="RECSYS_DATA_DIR")
    redis_url: str = Field(
        default_factory=lambda: project_redis_url(), validation_alias="REDIS_URL"
    )
    feature_service: str = Field(FEATURE_SERVICE, validation_alias="RECSYS_FEATURE_SERVICE")
    default_k: int = Field(20, ge=1, le=100, validation_alias="RECSYS_DEFAULT_K")
    max_k: int = Field(100, ge=1, le=1000, validation_alias="RECSYS_MAX_K")
    candidates: int = Field(300, ge=10, le=5000, validation_alias="RECSYS_CANDIDATES")
    max_batch_events: int = Field(1000, ge=1, validation_alias="RECSYS_MAX_BATCH_EVENTS")
    session_gap_minutes: float = Field(
        float(SESSION_GAP_MINUTES), gt=0, validation_alias="RECSYS_SESSION_GAP_MINUTES"
    )
    # Redis calls fail fast so a slow or dead store turns into a fallback, not a hung request.
    redis_timeout_ms: float = Field(100.0, gt=0, validation_alias="RECSYS_REDIS_TIMEOUT_MS")
    # After a Redis failure, skip Redis for this long before trying again (then recover).
    redis_retry_seconds: float = Field(1.0, ge=0, validation_alias="RECSYS_REDIS_RETRY_SECONDS")
    model_poll_seconds: float = Field(2.0, gt=0, validation_alias="RECSYS_MODEL_POLL_SECONDS")
    catalog_poll_seconds: float = Field(10.0, gt=0, validation_alias="RECSYS_CATALOG_POLL_SECONDS")
    # One catalog per host: workers map the item-side arrays from files written once per
    # materialization (recsys/ranking/shared_catalog.py) instead of each holding a copy.
    # Off: every worker builds its own in memory, as before. The folder defaults to
    # <data dir>/catalog; it must be on a local disk every worker of the host can reach.
    shared_catalog: bool = Field(True, validation_alias="RECSYS_SHARED_CATALOG")
    catalog_dir: Path | None = Field(None, validation_alias="RECSYS_CATALOG_DIR")
    # /ready reports stale features when the last materialization is older than this.
    max_feature_age_hours: float = Field(
        36.0, gt=0, validation_alias="RECSYS_MAX_FEATURE_AGE_HOURS"
    )
    # /ready and `recsys monitor` flag the nightly chain as stalled when no night succeeded
    # for this long (recsys/pipeline/nightly.py).
    max_night_age_hours: float = Field(36.0, gt=0, validation_alias="RECSYS_MAX_NIGHT_AGE_HOURS")
    event_id_ttl_days: float = Field(7.0, gt=0, validation_alias="RECSYS_EVENT_ID_TTL_DAYS")
    # dbt var list_refresh_days for every build: 0 computes item_embeddings' and item_rules'
    # lists at each snapshot; N > 0 on an N-day grid, so most nights reuse stored lists
    # (recsys/pipeline/snapshot_lists.py; 7 = weekly, the setting for nightly builds).
    list_refresh_days: int = Field(0, ge=0, le=366, validation_alias="RECSYS_LIST_REFRESH_DAYS")
    max_future_skew_minutes: float = Field(
        5.0, ge=0, validation_alias="RECSYS_MAX_FUTURE_SKEW_MINUTES"
    )
    # Off for an evaluation replay: its events update sessions but never reach the next
    # build (test sessions would otherwise leak into training).
    land_events: bool = Field(True, validation_alias="RECSYS_LAND_EVENTS")
    # Hostile input and API keys (README "Production settings"): events older than this are
    # refused by the API (history goes through `recsys ingest file`); bodies above this many
    # bytes get 413 before they are read into memory.
    max_event_age_days: float = Field(365.0, gt=0, validation_alias="RECSYS_MAX_EVENT_AGE_DAYS")
    max_body_bytes: int = Field(1_048_576, ge=1024, validation_alias="RECSYS_MAX_BODY_BYTES")
    # Comma-separated keys; when set, POST /events and the operator routes require one.
    api_key: SecretStr | None = Field(None, validation_alias="RECSYS_API_KEY")
    # Optional separate keys for the read routes (the write keys are accepted there too).
    read_api_key: SecretStr | None = Field(None, validation_alias="RECSYS_READ_API_KEY")
    # Refuse to serve without RECSYS_API_KEY; put user and item browsing behind the key.
    production: bool = Field(False, validation_alias="RECSYS_PRODUCTION")

    # The impression log (landing/impressions/, docs/contracts.md): on/off, the share of
    # answers whose lines carry feature vectors and how many of the shown items' vectors
    # (0: all shown), the in-process queue (full: drop and count, never block) and the size
    # at which a file rotates. Vectors are most of a line's cost (about 0.5 ms of CPU for 20
    # items against 0.05 ms for the rest); drift and skew checks need a sample, not every
    # answer, and a tenth of the traffic fills their minimum rows within minutes.
    log_impressions: bool = Field(True, validation_alias="RECSYS_LOG_IMPRESSIONS")
    impression_features_share: float = Field(
        0.1, ge=0, le=1, validation_alias="RECSYS_IMPRESSION_FEATURES_SHARE"
    )
    impression_features_top_n: int = Field(
        0, ge=0, validation_alias="RECSYS_IMPRESSION_FEATURES_TOP_N"
    )
    impression_queue_size: int = Field(
        10_000, ge=1, validation_alias="RECSYS_IMPRESSION_QUEUE_SIZE"
    )
    impression_file_max_mb: float = Field(
        256.0, gt=0, validation_alias="RECSYS_IMPRESSION_FILE_MAX_MB"
    )
    impression_flush_seconds: float = Field(
        1.0, gt=0, validation_alias="RECSYS_IMPRESSION_FLUSH_SECONDS"
    )

    @property
    def paths(self) -> Paths:
        """The file layout under this settings' data directory."""
        return Paths(self.data_dir)

    @property
    def catalog_root(self) -> Path:
        """Where the shared catalog's versions live (RECSYS_CATALOG_DIR, else data/catalog)."""
        return self.catalog_dir or self.paths.catalog


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read the settings once per process (tests build their own Settings instead)."""
    return Settings()
