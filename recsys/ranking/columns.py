"""Named feature columns: a feature is a name (with its meaning) and code that fills it by name.

`columns(names)` gives an object whose attribute for each name is that feature's position, so
`row[CROSS.covis_sum] = ...` writes the column called covis_sum. It is a namedtuple of ints,
which numba folds into constants inside compiled code (an IntEnum cannot index an array
there). Adding a feature is one entry in its table plus the line that computes it.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterable
from typing import Any


def columns(names: Iterable[str]) -> Any:
    """Positions by name: columns(["a", "b"]).b == 1."""
    ordered = list(names)
    return namedtuple("Columns", ordered)(*range(len(ordered)))
