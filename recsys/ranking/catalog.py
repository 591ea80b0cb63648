"""The item-side state a recommendation needs, held in memory as flat numpy arrays.

Everything here changes only when a new build or materialization lands (item attributes,
co-visitation, sequential, SR-rule and embedding neighbours, popularity, the historical sessions
session-kNN
searches), so the server keeps one `Catalog` in process and swaps it when a newer one lands;
training builds one per time window from data strictly before the window starts. Per-request
state (the user row, the session) is never in here.

Items are addressed by a dense int index; `-1` means "not in the catalog".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

NO_CATEGORY = -1


@dataclass(frozen=True)
class Csr:
    """Row-compressed adjacency: the neighbours of row r are indices[indptr[r]:indptr[r+1]]."""

    indptr: np.ndarray  # int64, len rows + 1
    indices: np.ndarray  # int32
    scores: np.ndarray  # float32, same length as indices

    @classmethod
    def empty(cls, rows: int) -> Csr:
        return cls(np.zeros(rows + 1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32))


@dataclass(frozen=True)
class SessionIndex:
    """Historical sessions for session-kNN: which items each had and which sessions hold an item.

    Session ids are dense and ordered by end time, so a larger id is a more recent session.
    """

    session_items: Csr  # session -> items (scores all 1: each vote counts its similarity)
    item_sessions: Csr  # item -> sessions, most recent first, capped per item
    session_sizes: np.ndarray  # float32 distinct items per session

    @property
    def sessions(self) -> int:
        return len(self.session_sizes)


@dataclass(frozen=True)
class Catalog:
    """Item attributes, neighbours, popularity and historical sessions as of one point in time."""

    as_of: datetime
    item_ids: np.ndarray  # object array of str, position = item index
    category_codes: np.ndarray  # int32, NO_CATEGORY where unknown
    category_names: list[str]
    price: np.ndarray  # float32, nan where unknown
    covis: Csr
    seq: Csr
    embed: Csr  # nearest neighbours in the session embedding (item_embeddings), best first
    rules: Csr  # sequential rules (SR, item_rules): following items, heaviest rule first
    sessions: SessionIndex
    popularity: np.ndarray  # float32 decayed popularity per item (0 = never seen before as_of)
    recent_events: np.ndarray  # float32 events in the last day before as_of
    known: np.ndarray  # bool: item had an event before as_of (only these are recommendable)
    popular: np.ndarray  # int32 item indices, most popular first
    trending: np.ndarray  # int32 item indices, most events in the last day first
    category_popular: dict[int, np.ndarray]  # category code -> most popular items in it
    item_features: np.ndarray  # float32 [items, len(item_feature_names)], nan where unknown
    item_feature_names: list[str]
    titles: np.ndarray  # object array of str or None, for display only
    _index: dict[str, int] = field(repr=False, default_factory=dict)
    _category_index: dict[str, int] = field(repr=False, default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.item_ids)

    def with_indexes(self) -> Catalog:
        """This catalog with its lookup dicts (the `_` fields) derived from the other fields."""
        return dataclasses.replace(
            self,
            _index={item: i for i, item in enumerate(self.item_ids.tolist())},
            _category_index={name: code for code, name in enumerate(self.category_names)},
        )

    @cached_property
    def item_slot(self) -> np.ndarray:
        """Work array of candidate generation (generators.py): all -1 between calls."""
        return np.full(self.size, -1, np.int32)

    @cached_property
    def category_lists(self) -> Csr:
        """category_popular as rows of a Csr indexed by category code."""
        rows = len(self.category_names)
        lengths = np.zeros(rows, np.int64)
        for code, items in self.category_popular.items():
            if 0 <= code < rows:
                lengths[code] = len(items)
        indptr = np.zeros(rows + 1, np.int64)
        np.cumsum(lengths, out=indptr[1:])
        indices = np.zeros(int(indptr[-1]), np.int32)
        for code, items in self.category_popular.items():
            if 0 <= code < rows:
                indices[indptr[code] : indptr[code + 1]] = items
        return Csr(indptr, indices, np.ones(len(indices), np.float32))

    def index_of(self, item_id: str) -> int:
        return self._index.get(item_id, -1)

    def indices_of(self, item_ids: list[str] | np.ndarray) -> np.ndarray:
        """Map item ids to indices (-1 for unknown ones)."""
        get = self._index.get
        return np.fromiter((get(i, -1) for i in item_ids), np.int32, count=len(item_ids))

    def category_code(self, category: str | None) -> int:
        if category is None:
            return NO_CATEGORY
        return self._category_index.get(category, NO_CATEGORY)

    def category_of(self, item: int) -> str | None:
        code = int(self.category_codes[item])
        return None if code == NO_CATEGORY else self.category_names[code]

    def describe(self) -> str:
        return (
            f"catalog as of {self.as_of.isoformat()}: {self.size:,} items "
            f"({int(self.known.sum()):,} recommendable), {len(self.category_names)} categories, "
            f"{len(self.covis.indices):,} co-visitation, {len(self.seq.indices):,} sequential, "
            f"{len(self.rules.indices):,} SR-rule and {len(self.embed.indices):,} embedding links, "
            f"{self.sessions.sessions:,} historical sessions"
        )


def build_catalog(
    *,
    as_of: datetime,
    items: pa.Table,
    neighbors: pa.Table,
    popularity: pa.Table,
    session_items: pa.Table,
    item_features: pa.Table,
    item_feature_names: list[str],
    embeddings: pa.Table | None = None,
    rules: pa.Table | None = None,
    max_sessions_per_item: int = 300,
    popular_size: int = 200,
    category_popular_size: int = 50,
) -> Catalog:
    """Assemble a Catalog from mart rows already cut to `as_of` by the caller.

    Args:
        as_of: The moment the catalog describes; every input row must predate it.
        items: dim_items (item_id, category, price, optional title).
        neighbors: item_neighbors rows of one snapshot (item_id, covis_item_ids, covis_scores,
            seq_item_ids, seq_scores).
        popularity: item_popularity rows of one snapshot (item_id, decayed_score, events_1d).
        session_items: session_items rows of sessions that ended before `as_of`
            (session_id, item_id, session_ended_at).
        item_features: the latest item_features row per item at `as_of` (item_id + names).
        item_feature_names: numeric item feature columns, in the order the ranker reads them.
        embeddings: item_embeddings rows of one snapshot (item_id, embed_item_ids,
            embed_scores); None: no embedding neighbours (that generator finds nothing).
        rules: item_rules rows of one snapshot (item_id, rule_item_ids, rule_scores); None:
            no sequential rules (the SR generator finds nothing).
        max_sessions_per_item: session-kNN looks at most this many recent sessions per item.
        popular_size: length of the global popularity list.
        category_popular_size: length of each per-category popularity list.
    """
    item_ids = items.column("item_id").to_numpy(zero_copy_only=False).astype(object)
    index = pd.Index(item_ids)
    if not index.is_unique:
        raise ValueError("dim_items: item_id is not unique; rebuild the warehouse (`recsys build`)")
    size = len(item_ids)

    categories = items.column("category").to_pandas()
    # sorted codes, for the same reason items are sorted by id (see loading.load_catalog)
    codes, uniques = pd.factorize(categories, sort=True, use_na_sentinel=True)
    category_codes = codes.astype(np.int32)  # factorize marks missing with -1 == NO_CATEGORY
    price = items.column("price").to_numpy(zero_copy_only=False).astype(np.float32)

    covis = _neighbor_csr(neighbors, index, "covis_item_ids", "covis_scores")
    seq = _neighbor_csr(neighbors, index, "seq_item_ids", "seq_scores")
    embed = (
        Csr.empty(size)
        if embeddings is None
        else _neighbor_csr(embeddings, index, "embed_item_ids", "embed_scores")
    )
    rule_csr = (
        Csr.empty(size)
        if rules is None
        else _neighbor_csr(rules, index, "rule_item_ids", "rule_scores")
    )

    pop_rows = index.get_indexer(popularity.column("item_id").to_numpy(zero_copy_only=False))
    ok = pop_rows >= 0
    pop = np.zeros(size, np.float32)
    pop[pop_rows[ok]] = _floats(popularity, "decayed_score")[ok]
    recent = np.zeros(size, np.float32)
    recent[pop_rows[ok]] = _floats(popularity, "events_1d")[ok]
    known = np.zeros(size, bool)
    known[pop_rows[ok]] = True

    popular = _top(pop, known, popular_size)
    trending = _top(recent + pop * 1e-6, known & (recent > 0), popular_size)
    category_popular = {}
    for code in range(len(uniques)):
        members = known & (category_codes == code)
        category_popular[code] = _top(pop, members, category_popular_size)

    features = np.full((size, len(item_feature_names)), np.nan, np.float32)
    feat_rows = index.get_indexer(item_features.column("item_id").to_numpy(zero_copy_only=False))
    ok = feat_rows >= 0
    for j, name in enumerate(item_feature_names):
        features[feat_rows[ok], j] = _floats(item_features, name)[ok]

    return Catalog(
        as_of=as_of,
        item_ids=item_ids,
        category_codes=category_codes,
        category_names=[str(u) for u in uniques],
        price=price,
        covis=covis,
        seq=seq,
        sessions=_session_index(session_items, index, max_sessions_per_item),
        popularity=pop,
        recent_events=recent,
        known=known,
        popular=popular,
        trending=trending,
        category_popular=category_popular,
        item_features=features,
        item_feature_names=list(item_feature_names),
        titles=(
            items.column("title").to_numpy(zero_copy_only=False).astype(object)
            if "title" in items.column_names
            else np.full(size, None, object)
        ),
        embed=embed,
        rules=rule_csr,
    ).with_indexes()


def _floats(table: pa.Table, column: str) -> np.ndarray:
    return (
        pc.cast(table.column(column), pa.float32())
        .to_numpy(zero_copy_only=False)
        .astype(np.float32)
    )


def _top(score: np.ndarray, eligible: np.ndarray, n: int) -> np.ndarray:
    candidates = np.flatnonzero(eligible)
    if len(candidates) > n:
        candidates = candidates[np.argpartition(-score[candidates], n - 1)[:n]]
    # stable tie-break on index keeps the lists deterministic
    order = np.lexsort((candidates, -score[candidates]))
    return candidates[order].astype(np.int32)


def _neighbor_csr(table: pa.Table, index: pd.Index, ids_col: str, scores_col: str) -> Csr:
    size = len(index)
    if table.num_rows == 0:
        return Csr.empty(size)
    owners = index.get_indexer(table.column("item_id").to_numpy(zero_copy_only=False))
    ids = table.column(ids_col)
    lengths = pc.fill_null(pc.list_value_length(ids), 0).to_numpy().astype(np.int64)
    flat_ids = pc.list_flatten(ids).to_numpy(zero_copy_only=False)
    flat_scores = (
        pc.list_flatten(table.column(scores_col)).to_numpy(zero_copy_only=False).astype(np.float32)
    )
    targets: np.ndarray = index.get_indexer(flat_ids).astype(np.int32)
    row_of = np.repeat(owners, lengths)
    keep = (row_of >= 0) & (targets >= 0)
    row_of, targets, flat_scores = row_of[keep], targets[keep], flat_scores[keep]
    # rows arrive in any order: sort by owner, then by score descending within an owner
    order = np.lexsort((-flat_scores, row_of))
    row_of, targets, flat_scores = row_of[order], targets[order], flat_scores[order]
    indptr = np.zeros(size + 1, np.int64)
    np.cumsum(np.bincount(row_of, minlength=size), out=indptr[1:])
    return Csr(indptr, targets, flat_scores)


def _session_index(table: pa.Table, index: pd.Index, max_per_item: int) -> SessionIndex:
    size = len(index)
    if table.num_rows == 0:
        empty = Csr.empty(0)
        return SessionIndex(empty, Csr.empty(size), np.zeros(0, np.float32))
    frame = pd.DataFrame(
        {
            "session": table.column("session_id").to_numpy(zero_copy_only=False),
            "item": index.get_indexer(table.column("item_id").to_numpy(zero_copy_only=False)),
            "ended": table.column("session_ended_at").to_numpy(zero_copy_only=False),
        }
    )
    frame = frame[frame["item"] >= 0]
    # dense session ids in end-time order: larger id = more recent session
    ends = frame.groupby("session", sort=False)["ended"].max().sort_values(kind="stable")
    session_rank = pd.Series(np.arange(len(ends), dtype=np.int32), index=ends.index)
    frame["sid"] = session_rank.reindex(frame["session"].to_numpy()).to_numpy()
    frame = frame.drop_duplicates(["sid", "item"])

    by_session = frame.sort_values(["sid", "item"], kind="stable")
    sid = by_session["sid"].to_numpy(np.int32)
    n_sessions = len(ends)
    indptr = np.zeros(n_sessions + 1, np.int64)
    np.cumsum(np.bincount(sid, minlength=n_sessions), out=indptr[1:])
    items = by_session["item"].to_numpy(np.int32)
    session_items = Csr(indptr, items, np.ones(len(items), np.float32))
    sizes = np.diff(indptr).astype(np.float32)

    by_item = frame.sort_values(["item", "sid"], ascending=[True, False], kind="stable")
    by_item = by_item.groupby("item", sort=False).head(max_per_item)
    item_col = by_item["item"].to_numpy(np.int32)
    item_indptr = np.zeros(size + 1, np.int64)
    np.cumsum(np.bincount(item_col, minlength=size), out=item_indptr[1:])
    sessions_col = by_item["sid"].to_numpy(np.int32)
    item_sessions = Csr(item_indptr, sessions_col, np.ones(len(sessions_col), np.float32))
    return SessionIndex(session_items, item_sessions, sizes)
