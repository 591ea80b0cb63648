"""The server's heavy objects and how they are swapped while requests keep flowing.

`ServingState` holds the Feast store, the catalog (item-side state in memory), the scorer
(model + feature layout) and the batch-recommendation fallback. Watchers replace the catalog
when a newer materialization lands and the scorer when `models/current` moves; each swap is
one attribute assignment, so a request sees the old object or the new one, never a mix.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from recsys import experiments, model_check, registry, silence_feast_warnings
from recsys.config import Settings, feast_env, feature_repo_dir
from recsys.contract import ITEM_VIEW, USER_VIEW
from recsys.export_sets import ExportSetError
from recsys.ranking.catalog import Catalog
from recsys.ranking.inputs import RankerInputs, ranker_inputs
from recsys.ranking.loading import MissingExportError, load_catalog
from recsys.ranking.ranker import load_ranker
from recsys.ranking.recommend import Scorer
from recsys.ranking.shared_catalog import load_shared_catalog
from recsys.ranking.warm import warm
from serving.metrics import model_changed
from serving.online import OnlineFeatures

if TYPE_CHECKING:
    from feast import FeatureStore

log = logging.getLogger(__name__)

BatchList = tuple[list[str], list[float], str]


@dataclass
class ServingState:
    """Everything a request needs; replaced piecewise by the watchers."""

    settings: Settings
    store: FeatureStore
    inputs: RankerInputs
    online: OnlineFeatures
    catalog: Catalog | None = None
    catalog_signature: tuple[Any, ...] | None = None
    features_as_of: datetime | None = None
    features_updated_at: datetime | None = None
    scorer: Scorer | None = None
    model_target: str | None = None
    model_error: str | None = None
    catalog_error: str | None = None
    batch: dict[str, BatchList] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    # champion/challenger (recsys/experiments.py): the experiment and the challenger's scorer,
    # swapped together as one tuple; None when no experiment runs
    experiment: tuple[experiments.Challenge, Scorer] | None = None
    experiment_target: tuple[str, str, float] | None = None

    @property
    def model_version(self) -> str | None:
        return self.scorer.ranker.version if self.scorer else None

    def feature_age_seconds(self) -> float | None:
        if self.features_updated_at is None:
            return None
        return (datetime.now(UTC) - self.features_updated_at).total_seconds()

    # -- catalog -------------------------------------------------------------------------

    def catalog_signature_now(self) -> tuple[Any, ...]:
        """What changes when a build or a materialization lands (file mtimes)."""
        files = [
            self.settings.data_dir / "feast" / "registry.db",
            *(
                self.settings.paths.exports / f"{n}.parquet"
                for n in (
                    "item_features",
                    "item_neighbors",
                    "item_embeddings",
                    "item_rules",
                    "item_popularity",
                    "session_items",
                    "dim_items",
                    "data_windows",
                    "batch_recommendations",
                )
            ),
        ]
        return tuple(p.stat().st_mtime_ns if p.exists() else None for p in files)

    def reload_catalog(self) -> bool:
        """Load the serving catalog if the build or materialization changed; True if swapped."""
        signature = self.catalog_signature_now()
        if signature == self.catalog_signature:
            return False
        as_of, updated = _materialized(self.store)
        try:
            # the new catalog is complete (mapped and checked) before it replaces the old one
            catalog = self._load_catalog(as_of)
        except (MissingExportError, ExportSetError) as exc:
            self.catalog_error = str(exc)
            self.catalog_signature = signature
            return False
        self.batch = load_batch_fallback(
            self.settings.paths.exports / "batch_recommendations.parquet"
        )
        self.catalog, self.features_as_of, self.features_updated_at = catalog, as_of, updated
        self.catalog_signature, self.catalog_error = signature, None
        log.info("%s", catalog.describe())
        return True

    def _load_catalog(self, features_as_of: datetime | None) -> Catalog:
        names = list(self.inputs.layout.item_features)
        exports = self.settings.paths.exports
        if self.settings.shared_catalog:
            try:
                return load_shared_catalog(
                    exports,
                    self.settings.catalog_root,
                    snapshot="serving",
                    item_feature_names=names,
                    features_as_of=features_as_of,
                )
            except OSError as exc:  # e.g. the folder is not writable: serve, at a copy's cost
                log.error(
                    "shared catalog under %s unavailable (%s); this worker loads its own copy "
                    "(set RECSYS_CATALOG_DIR to a writable local folder)",
                    self.settings.catalog_root,
                    exc,
                )
        return load_catalog(
            exports, snapshot="serving", item_feature_names=names, features_as_of=features_as_of
        )

    # -- model ---------------------------------------------------------------------------

    def reload_model(self) -> bool:
        """Load the model `current` points at if it moved; True if swapped.

        The version is checked in a child process first (a broken model file can abort the
        process that loads it); on any failure the old model keeps serving and the reason is
        kept in `model_error` for /ready.
        """
        target = registry.current_dir(self.settings.paths.models)
        key = str(target) if target else None
        if key == self.model_target:
            return False
        self.model_target = key  # whatever happens, do not retry the same version in a loop
        if target is None:
            if self.scorer is None:
                self.model_error = "no model has been promoted yet"
            return False
        check = model_check.validate(target)
        if not check.ok:
            return self._refuse(target, check.reason)
        try:
            ranker = load_ranker(target)
            scorer = Scorer.bind(ranker, self.inputs.layout)
        except Exception as exc:  # the check passed, yet loading failed: still keep serving
            return self._refuse(target, f"{target.name}: {type(exc).__name__}: {exc}")
        model_changed(self.model_version, ranker.version)
        self.scorer, self.model_error = scorer, None
        log.info("serving model %s", ranker.version)
        return True

    # -- champion / challenger ---------------------------------------------------------

    def reload_challenger(self) -> bool:
        """Load the challenger models/challenger.json names if the experiment changed.

        The challenger passes the same model check as any version; a refused one ends the
        experiment in this process (every user back on `current`) with the reason logged.
        """
        models = self.settings.paths.models
        try:
            challenge = experiments.read_challenge(models)
        except ValueError as exc:
            log.error("%s", exc)
            challenge = None
        key = (challenge.version, challenge.salt, challenge.share) if challenge else None
        if key == self.experiment_target:
            return False
        self.experiment_target = key
        if challenge is None:
            self.experiment = None
            log.info("no champion/challenger experiment")
            return True
        target = models / challenge.version
        check = model_check.validate(target)
        if not check.ok:
            self.experiment = None
            log.error("challenger %s refused: %s", challenge.version, check.reason)
            return False
        try:
            scorer = Scorer.bind(load_ranker(target), self.inputs.layout)
        except Exception as exc:
            self.experiment = None
            log.error("challenger %s refused: %s: %s", target.name, type(exc).__name__, exc)
            return False
        self.experiment = (challenge, scorer)
        log.info("challenger %s serves %.0f%% of users", challenge.version, challenge.share * 100)
        return True

    def scorer_for(self, user_id: str) -> tuple[Scorer | None, str | None]:
        """The scorer of the user's arm, and the arm (None when no experiment runs)."""
        experiment = self.experiment  # one read: the challenge and its scorer belong together
        if experiment is None:
            return self.scorer, None
        challenge, challenger = experiment
        arm = challenge.arm_of(user_id)
        return (challenger if arm == experiments.CHALLENGER else self.scorer), arm

    def _refuse(self, target: Path, reason: str) -> bool:
        kept = f"; still serving {self.model_version}" if self.scorer else ""
        self.model_error = f"model {target.name} refused: {reason}{kept}"
        log.error("%s", self.model_error)
        return False


def open_store(settings: Settings) -> Any:
    """A Feast store on feature_repo/ pointed at settings' data dir and Redis, failing fast."""
    from feast import FeatureStore

    os.environ["RECSYS_DATA_DIR"] = str(settings.data_dir)
    timeout = settings.redis_timeout_ms / 1000
    feast = feast_env(settings.redis_url)
    feast["FEAST_REDIS_CONNECTION"] += f",socket_timeout={timeout},socket_connect_timeout={timeout}"
    os.environ.update(feast)
    silence_feast_warnings()  # importing Feast overrode the filter
    return FeatureStore(repo_path=str(feature_repo_dir()))


def build_state(settings: Settings) -> ServingState:
    """Everything the routes need, loaded once (the lifespan calls this)."""
    state = create_state(settings, open_store(settings))
    state.online.fail_fast()
    return state


def create_state(settings: Settings, store: FeatureStore) -> ServingState:
    """Build the state: feature layout from the service, online reader, catalog, model."""
    inputs = ranker_inputs(store, settings.feature_service)
    online = OnlineFeatures(
        store,
        redis_url=settings.redis_url,
        timeout_s=settings.redis_timeout_ms / 1000,
        user_features=[ref.split(":", 1)[1] for ref in inputs.user_refs],
        retry_seconds=settings.redis_retry_seconds,
    )
    state = ServingState(settings=settings, store=store, inputs=inputs, online=online)
    state.reload_catalog()
    state.reload_model()
    state.reload_challenger()
    # compile / load the numba kernels now rather than in the first request (about 1 s)
    log.info("numba kernels ready in %.1f s", warm())
    return state


async def watch(state: ServingState) -> None:
    """Poll for new models and new materializations until cancelled; swap them in."""
    loop = asyncio.get_running_loop()
    next_catalog = 0.0
    while True:
        await asyncio.sleep(state.settings.model_poll_seconds)
        try:
            await loop.run_in_executor(None, state.reload_model)
            await loop.run_in_executor(None, state.reload_challenger)
            if time.monotonic() >= next_catalog:
                next_catalog = time.monotonic() + state.settings.catalog_poll_seconds
                await loop.run_in_executor(None, _refresh_and_reload, state)
        except asyncio.CancelledError:
            raise
        except Exception:  # a failed reload must never stop the watcher
            log.exception("reload failed; keeping the current model and catalog")


def _refresh_and_reload(state: ServingState) -> None:
    if state.catalog_signature_now() != state.catalog_signature:
        state.store.refresh_registry()
        state.reload_catalog()


def _materialized(store: FeatureStore) -> tuple[datetime | None, datetime | None]:
    """End of the last materialization of the item and user views, and when it ran."""
    ends, updated = [], []
    for name in (ITEM_VIEW, USER_VIEW):
        try:
            view = store.get_feature_view(name)
        except Exception:  # view not applied yet
            continue
        if view.materialization_intervals:
            ends.append(_aware(max(end for _, end in view.materialization_intervals)))
        if view.last_updated_timestamp:
            updated.append(_aware(view.last_updated_timestamp))
    as_of = min(ends) if ends else None
    return as_of, (min(updated) if updated and ends else None)


def _aware(value: datetime) -> datetime:
    """Feast's registry hands back naive UTC datetimes in places; make them explicit."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def load_batch_fallback(path: Path) -> dict[str, BatchList]:
    """Batch recommendations per user, held in memory for when Redis is unreachable."""
    if not path.exists():
        return {}
    with duckdb.connect() as con:
        rows = con.execute(
            f"select user_id, item_ids, scores, model_version from read_parquet('{path}')"
        ).fetchall()
    return {str(u): (list(i or []), list(s or []), str(v)) for u, i, s, v in rows}
