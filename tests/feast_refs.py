"""Feature refs of one view inside a feature service, for tests that read Feast directly."""

from __future__ import annotations

from typing import TYPE_CHECKING

from recsys.pipeline.feast_ops import feature_store

if TYPE_CHECKING:
    from feast import FeatureStore


def feature_refs(
    service_name: str, view_name: str, *, store: FeatureStore | None = None
) -> list[str]:
    """Return the `view:feature` refs of one view's projection inside a feature service.

    Args:
        service_name: Feature service, e.g. "ranker_v1".
        view_name: Feature view inside it, e.g. "user_features".
        store: A store to read the registry from; default `feature_store(connect_redis=False)`.

    Raises:
        ValueError: The service does not contain that view.
    """
    store = store or feature_store(connect_redis=False)
    service = store.get_feature_service(service_name)
    names = []
    for projection in service.feature_view_projections:
        names.append(projection.name)
        if view_name in (projection.name, projection.name_to_use()):
            return [f"{projection.name_to_use()}:{f.name}" for f in projection.features]
    raise ValueError(
        f"feature service {service_name!r} has no view {view_name!r}; it has {names}; "
        "add the view to feature_repo/feature_services.py and run `recsys apply`"
    )
