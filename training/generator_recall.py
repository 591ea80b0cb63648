"""Candidate recall per generator: which share of next items each generator finds alone.

For every in-session test query (k >= 1) each generator's own list is rebuilt with the
candidate code the server runs (recsys.ranking.candidates) and the true next item looked up
in its first N. Per generator the table gives:

- `recall@N`: the share of queries whose next item is in the generator's first N;
- `only`: the share found by this generator and by no other (what it adds to the union);
- for the extra lists (`extra`, e.g. the session baselines' top N): `pool+` = recall@N of
  the fused pool united with that list, i.e. what adopting it as a generator could add at
  most.

The user's own history is left out (in-session queries take their context from the session)
and the category lists follow the context's categories by recency weight, as the pool does.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from recsys.ranking.candidates import (
    CandidateConfig,
    UserContext,
    build_context,
    neighbour_scores,
    rule_scores,
    sknn_scores,
)
from recsys.ranking.catalog import Catalog
from recsys.ranking.session import SessionArrays
from training.dataset import ExampleSet, SessionLog

ListFn = Callable[[Catalog, SessionArrays, int], np.ndarray]
_CONFIG = CandidateConfig()
_NO_USER = UserContext.unknown(0)


def _ranked(items: np.ndarray, scores: np.ndarray, n: int) -> np.ndarray:
    if len(items) == 0:
        return np.zeros(0, np.int32)
    return items[np.lexsort((items, -scores))[:n]].astype(np.int32)


def generator_lists(catalog: Catalog, session: SessionArrays, n: int) -> dict[str, np.ndarray]:
    """Each pool generator's own first `n` items for one session (candidates.generate's)."""
    context = build_context(session, _NO_USER, limit=_CONFIG.context_items)
    out = {
        "covisitation": _ranked(*neighbour_scores(catalog, catalog.covis, context), n),
        "sequential": _ranked(*neighbour_scores(catalog, catalog.seq, context), n),
        "session-knn": _ranked(*sknn_scores(catalog, context, _CONFIG), n),
        "embedding": _ranked(*neighbour_scores(catalog, catalog.embed, context), n),
        "sequential rules": _ranked(*rule_scores(catalog, context), n),
        "session items": context.items[:n] if not context.from_user_history else context.items[:0],
        "trending": catalog.trending[: _CONFIG.trending_items],
        "popular": catalog.popular[: _CONFIG.popular_items],
    }
    weight: dict[int, float] = {}
    for item, w in zip(context.items, context.weights, strict=True):
        code = int(catalog.category_codes[item])
        if code >= 0:
            weight[code] = weight.get(code, 0.0) + float(w)
    codes = sorted(weight, key=lambda c: (-weight[c], c))[:3]
    empty = np.zeros(0, np.int32)
    per_category = [catalog.category_popular.get(c, empty)[: _CONFIG.category_items] for c in codes]
    out["category popular"] = np.concatenate(per_category) if per_category else empty
    return out


def generator_recall(
    examples: ExampleSet,
    log: SessionLog,
    catalog: Catalog,
    *,
    n: int = 300,
    extra: dict[str, ListFn] | None = None,
) -> pd.DataFrame:
    """One row per generator (and per extra list): recall@n, share found by it alone, and
    for extra lists the recall of the fused pool united with them; plus the pool's row."""
    queries = examples.queries
    mask = queries["prefix_len"].to_numpy() >= 1
    rows = np.flatnonzero(mask)
    sessions = queries["session"].to_numpy()
    prefix = queries["prefix_len"].to_numpy()
    targets = queries["target"].to_numpy()
    offsets = examples.offsets
    extra = extra or {}
    hits: dict[str, np.ndarray] = {}
    pool_hit = np.zeros(len(rows), bool)
    extra_hit = {name: np.zeros(len(rows), bool) for name in extra}
    for j, q in enumerate(rows):
        target = int(targets[q])
        session = log.prefix(int(sessions[q]), int(prefix[q]))
        pool = examples.candidates[offsets[q] : offsets[q + 1]][:n]
        pool_hit[j] = target >= 0 and bool(np.any(pool == target))
        for name, items in generator_lists(catalog, session, n).items():
            hit = hits.setdefault(name, np.zeros(len(rows), bool))
            hit[j] = target >= 0 and bool(np.any(items == target))
        for name, fn in extra.items():
            extra_hit[name][j] = target >= 0 and bool(np.any(fn(catalog, session, n) == target))
    stacked = np.vstack(list(hits.values())) if hits else np.zeros((0, len(rows)), bool)
    found_by = stacked.sum(axis=0)
    out = [
        {
            "generator": "fused pool",
            "queries": len(rows),
            f"recall@{n}": _mean(pool_hit),
            "only": float("nan"),
            "pool+": float("nan"),
        }
    ]
    for name, hit in hits.items():
        out.append(
            {
                "generator": name,
                "queries": len(rows),
                f"recall@{n}": _mean(hit),
                "only": _mean(hit & (found_by == 1)),
                "pool+": float("nan"),
            }
        )
    for name, hit in extra_hit.items():
        out.append(
            {
                "generator": f"{name} (not a generator)",
                "queries": len(rows),
                f"recall@{n}": _mean(hit),
                "only": _mean(hit & (found_by == 0)),
                "pool+": _mean(hit | pool_hit),
            }
        )
    return pd.DataFrame(out)


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else float("nan")
