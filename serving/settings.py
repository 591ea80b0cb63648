"""The server's configuration: one typed settings object read once from the environment."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from training.config import DEFAULT_REDIS_URL, data_dir


class Settings(BaseSettings):
    """Every server knob; environment variables use the names in `validation_alias`."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    data_dir: Path = Field(default_factory=data_dir, validation_alias="RECSYS_DATA_DIR")
    redis_url: str = Field(DEFAULT_REDIS_URL, validation_alias="REDIS_URL")
    feature_service: str = Field("ranker_v1", validation_alias="RECSYS_FEATURE_SERVICE")
    default_k: int = Field(20, ge=1, le=100, validation_alias="RECSYS_DEFAULT_K")
    max_k: int = Field(100, ge=1, le=1000, validation_alias="RECSYS_MAX_K")
    candidates: int = Field(300, ge=10, le=5000, validation_alias="RECSYS_CANDIDATES")
    max_batch_events: int = Field(1000, ge=1, validation_alias="RECSYS_MAX_BATCH_EVENTS")
    session_gap_minutes: float = Field(30.0, gt=0, validation_alias="RECSYS_SESSION_GAP_MINUTES")
    # Redis calls fail fast so a slow or dead store turns into a fallback, not a hung request.
    redis_timeout_ms: float = Field(100.0, gt=0, validation_alias="RECSYS_REDIS_TIMEOUT_MS")
    # After a Redis failure, skip Redis for this long before trying again (then recover).
    redis_retry_seconds: float = Field(1.0, ge=0, validation_alias="RECSYS_REDIS_RETRY_SECONDS")
    model_poll_seconds: float = Field(2.0, gt=0, validation_alias="RECSYS_MODEL_POLL_SECONDS")
    catalog_poll_seconds: float = Field(10.0, gt=0, validation_alias="RECSYS_CATALOG_POLL_SECONDS")
    # /ready reports stale features when the last materialization is older than this.
    max_feature_age_hours: float = Field(
        36.0, gt=0, validation_alias="RECSYS_MAX_FEATURE_AGE_HOURS"
    )
    event_id_ttl_days: float = Field(7.0, gt=0, validation_alias="RECSYS_EVENT_ID_TTL_DAYS")
    max_future_skew_minutes: float = Field(
        5.0, ge=0, validation_alias="RECSYS_MAX_FUTURE_SKEW_MINUTES"
    )

    @property
    def exports(self) -> Path:
        return self.data_dir / "exports"

    @property
    def models(self) -> Path:
        return self.data_dir / "models"

    @property
    def landing_served(self) -> Path:
        return self.data_dir / "landing" / "served"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read the settings once per process (tests build their own Settings instead)."""
    return Settings()
