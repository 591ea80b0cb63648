"""Read one request's rows from Feast's Redis layout in a single pipelined round trip.

`FeatureStore.get_online_features` costs ~0.7 ms of Python per call here (request planning,
protobuf-to-Python conversion; see BENCHMARKS.md), a third of a whole recommendation. The
rows it reads are plain Redis hashes whose layout Feast defines (and our materializer
writes): key = serialized entity key + project, field = mmh3("<view>:<feature>"), value = a
Value protobuf (online_format.py names and writes them). This reader asks for exactly those
fields with HMGET and decodes them with Feast's own converter, so it returns what
`get_online_features` returns (a test checks it) while spending a fraction of the time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from feast.infra.key_encoding_utils import serialize_entity_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value
from feast.type_map import feast_value_type_to_python_type

from recsys.pipeline.online_format import field_name


@dataclass(frozen=True)
class ViewFields:
    """The Redis hash fields of some features of one feature view."""

    view: str
    features: tuple[str, ...]
    fields: tuple[bytes, ...]

    @classmethod
    def of(cls, view: str, features: Sequence[str]) -> ViewFields:
        return cls(view, tuple(features), tuple(field_name(view, f) for f in features))


class EntityReader:
    """Reads several views of one entity type (same join key) with one HMGET."""

    def __init__(
        self,
        *,
        project: str,
        join_key: str,
        views: Sequence[ViewFields],
        serialization_version: int = 3,
    ) -> None:
        self._project = project.encode()
        self._join_key = join_key
        self._version = serialization_version
        self._views = list(views)
        self.fields = [field for v in self._views for field in v.fields]

    def key(self, entity_id: str) -> bytes:
        proto = EntityKey(join_keys=[self._join_key], entity_values=[Value(string_val=entity_id)])
        return serialize_entity_key(proto, entity_key_serialization_version=self._version) + (
            self._project
        )

    def decode(self, raw: Sequence[bytes | None]) -> dict[str, dict[str, Any] | None]:
        """Per view: feature name -> Python value, or None when the entity has no row."""
        out: dict[str, dict[str, Any] | None] = {}
        position = 0
        for view in self._views:
            values = raw[position : position + len(view.fields)]
            position += len(view.fields)
            if all(v is None for v in values):
                out[view.view] = None
                continue
            out[view.view] = {
                name: _python(value) for name, value in zip(view.features, values, strict=True)
            }
        return out


def _python(raw: bytes | None) -> Any:
    if not raw:
        return None
    return feast_value_type_to_python_type(Value.FromString(raw))
