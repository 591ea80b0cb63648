"""What the ranker reads, derived from the Feast feature service (never a hand-written list).

`ranker_inputs` turns the service's user and item projections into the feature layout; the
training-set builder and the server build theirs from the same service, so a feature added to
a view reaches training and serving together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from recsys.contract import ITEM_VIEW, USER_VIEW
from recsys.ranking.vectors import FeatureLayout

if TYPE_CHECKING:
    from feast import FeatureStore

_NUMERIC = {"INT32", "INT64", "FLOAT32", "FLOAT64", "BOOL"}


@dataclass(frozen=True)
class RankerInputs:
    """The layout plus the Feast refs each entity's features come from."""

    layout: FeatureLayout
    user_refs: list[str]
    item_refs: list[str]

    @property
    def refs(self) -> list[str]:
        return [*self.user_refs, *self.item_refs]


def ranker_inputs(store: FeatureStore, service_name: str) -> RankerInputs:
    """Read the service's user and item projections and build the feature layout."""
    service = store.get_feature_service(service_name)
    fields = {p.name: p.features for p in service.feature_view_projections}
    for view in (USER_VIEW, ITEM_VIEW):
        if view not in fields:
            raise ValueError(
                f"feature service {service_name!r} lacks the {view!r} view the ranker needs; "
                f"it has {sorted(fields)}"
            )

    def numeric(view: str) -> tuple[str, ...]:
        return tuple(f.name for f in fields[view] if _is_numeric(f.dtype))

    def refs(view: str) -> list[str]:
        return [f"{view}:{f.name}" for f in fields[view]]

    return RankerInputs(
        layout=FeatureLayout(item_features=numeric(ITEM_VIEW), user_features=numeric(USER_VIEW)),
        user_refs=refs(USER_VIEW),
        item_refs=refs(ITEM_VIEW),
    )


def _is_numeric(dtype: object) -> bool:
    """Scalar numbers and booleans (lists and strings reach the ranker through the catalog)."""
    from feast.types import PrimitiveFeastType

    return isinstance(dtype, PrimitiveFeastType) and dtype.name in _NUMERIC
