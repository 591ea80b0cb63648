"""The strongest simple session-based methods, implemented from their papers as baselines.

- SR, sequential rules (Ludewig & Jannach 2018, "Evaluation of session-based recommendation
  algorithms"): a rule a -> b for every b that follows a within `SR_STEPS` events of a past
  session, weighted 1 / gap; the answer is the rules of the session's last item.
- V-SKNN (same paper): past sessions sharing items with the current one, most recent
  `sample` first; similarity = sum over shared items of the item's position weight in the
  current session (p / L, the last item weighs 1), divided by L; the `k` most similar vote
  for their items with similarity x 1 / (steps back to the most recent shared item) x
  (1 + LAMBDA_IDF_VSKNN x idf(item)).
- STAN (Garg et al. 2019, "Sequence and time aware neighborhood for session-based
  recommendations"): position weight exp((p - L) / lambda_spw) in the similarity (cosine
  against the neighbour's binary vector), recency of the neighbour session exp(-dt /
  lambda_snh), and a neighbour's item weighs exp(-|its position - position of the most
  recent shared item| / lambda_inh).
- VSTAN (Ludewig, Latifi, Jannach 2021, "Empirical analysis of session-based recommendation
  algorithms"): STAN plus V-SKNN's two additions: the vote is damped by how far back in the
  current session the match is (exp(-(steps - 1) / lambda_ipw)) and items are weighted by
  idf (1 + lambda_idf x idf).

Parameters are the defaults of the authors' reference code as we know them (STAN's lambdas
1.02 / 5 days / 2.05), not re-checked against that code and not tuned here. Every method
sees the same past as the ranker's catalog: the events of sessions that ended before the
test window starts. Repeats of the session's own items are allowed (click logs repeat often;
leaving them out would weaken the baselines). This is offline-only code: it never serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
from numba import njit

from recsys.ranking.catalog import Catalog
from recsys.ranking.session import SessionArrays

SR_STEPS = 10  # rules span at most this many following events (the paper's window)
SAMPLE = 1000  # most recent past sessions sharing an item with the current one
NEIGHBOURS = 100  # of those, the most similar vote
MAX_SESSIONS_PER_ITEM = 1000  # item -> sessions list cap (newest kept), bounds the sampling
LAMBDA_IDF_VSKNN = 1.0
LAMBDA_SPW = 1.02  # STAN: session position weight (events)
LAMBDA_SNH_S = 5 * 86_400.0  # STAN: neighbour session recency (seconds)
LAMBDA_INH = 2.05  # STAN: item position in the neighbour (events)
LAMBDA_IPW = 1.02  # VSTAN: how far back in the current session the match lies
LAMBDA_IDF_VSTAN = 5.0

VSKNN, STAN, VSTAN = 0, 1, 2


@dataclass(frozen=True)
class History:
    """Past sessions (ended before `as_of`) as ordered item sequences, plus SR's rules."""

    seq_indptr: np.ndarray  # int64: events of session s are seq_items[indptr[s]:indptr[s+1]]
    seq_items: np.ndarray  # int32 catalog index per event, in event order
    # distinct items per session with the position (1-based) of their last occurrence
    uniq_indptr: np.ndarray
    uniq_items: np.ndarray
    uniq_pos: np.ndarray  # float64
    ended_s: np.ndarray  # float64 end time per session (sessions sorted by it)
    item_indptr: np.ndarray  # item -> sessions, newest first
    item_sessions: np.ndarray
    idf: np.ndarray  # float64 log(sessions / sessions holding the item), 0 if none
    rules: tuple[np.ndarray, np.ndarray, np.ndarray]  # SR: (indptr, items, weight) by item

    @property
    def sessions(self) -> int:
        return len(self.ended_s)


def load_history(exports: Path, catalog: Catalog) -> History:
    """Events of every session that ended before the catalog's `as_of`, in event order."""
    path = exports / "fct_events.parquet"
    sql = f"""
        with ended as (
            select session_id, max(event_timestamp) as ended_at
            from read_parquet('{path}') group by session_id
            having max(event_timestamp) < ?
        )
        select e.session_id, e.item_id, epoch_us(x.ended_at) / 1e6 as ended
        from read_parquet('{path}') e join ended x using (session_id)
        order by x.ended_at, e.session_id, e.session_position
    """
    with duckdb.connect() as con:
        con.execute("set threads to 2")
        table = con.execute(sql, [catalog.as_of]).to_arrow_table()
    sessions = table.column("session_id").to_numpy(zero_copy_only=False)
    items = catalog.indices_of(table.column("item_id").to_numpy(zero_copy_only=False))
    ended = table.column("ended").to_numpy().astype(np.float64)
    return build_history(sessions, items, ended, catalog.size)


def build_history(
    sessions: np.ndarray, items: np.ndarray, ended: np.ndarray, n_items: int
) -> History:
    """History from events sorted by (session end, session, position); -1 items are dropped."""
    keep = items >= 0
    sessions, items, ended = sessions[keep], items[keep].astype(np.int32), ended[keep]
    n = len(items)
    if n:
        change = np.flatnonzero(sessions[1:] != sessions[:-1]) + 1
        starts = np.concatenate([[0], change]).astype(np.int64)
    else:
        starts = np.zeros(0, np.int64)
    indptr = np.concatenate([starts, [n]]).astype(np.int64)
    uniq_indptr, uniq_items, uniq_pos = _distinct_last(indptr, items)
    n_sessions = len(starts)
    counts = np.bincount(uniq_items, minlength=n_items)
    idf = np.zeros(n_items, np.float64)
    seen = counts > 0
    idf[seen] = np.log(max(n_sessions, 1) / counts[seen])
    sid = np.repeat(np.arange(n_sessions, dtype=np.int32), np.diff(uniq_indptr))
    order = np.lexsort((-sid, uniq_items))  # by item, newest session first
    by_item, by_sid = uniq_items[order], sid[order]
    rank = np.arange(len(by_item)) - np.repeat(
        np.concatenate([[0], np.cumsum(counts)[:-1]]), counts
    )
    capped = rank < MAX_SESSIONS_PER_ITEM
    by_item, by_sid = by_item[capped], by_sid[capped]
    item_indptr = np.zeros(n_items + 1, np.int64)
    np.cumsum(np.bincount(by_item, minlength=n_items), out=item_indptr[1:])
    return History(
        seq_indptr=indptr,
        seq_items=items,
        uniq_indptr=uniq_indptr,
        uniq_items=uniq_items,
        uniq_pos=uniq_pos,
        ended_s=ended[starts] if n else np.zeros(0),
        item_indptr=item_indptr,
        item_sessions=by_sid.astype(np.int32),
        idf=idf,
        rules=_sr_rules(indptr, items, n_items),
    )


def _distinct_last(indptr: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per session: distinct items and the 1-based position of their last occurrence."""
    sid = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    pos = np.arange(len(items)) - indptr[sid] + 1
    # last occurrence: sort by (session, item, position) and keep each pair's final row
    order = np.lexsort((pos, items, sid))
    s, i, p = sid[order], items[order], pos[order]
    last = np.ones(len(s), bool)
    last[:-1] = (s[1:] != s[:-1]) | (i[1:] != i[:-1])
    s, i, p = s[last], i[last], p[last]
    uniq_indptr = np.zeros(len(indptr), np.int64)
    np.cumsum(np.bincount(s, minlength=len(indptr) - 1), out=uniq_indptr[1:])
    return uniq_indptr, i.astype(np.int32), p.astype(np.float64)


def _sr_rules(
    indptr: np.ndarray, items: np.ndarray, n_items: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SR's rules as an item -> (following item, summed 1/gap) Csr, heaviest first."""
    src, dst, w = _sr_pairs(indptr, items, SR_STEPS)
    if len(src) == 0:
        return np.zeros(n_items + 1, np.int64), np.zeros(0, np.int32), np.zeros(0)
    key = src.astype(np.int64) * n_items + dst
    uniq, inverse = np.unique(key, return_inverse=True)
    weight = np.bincount(inverse, weights=w)
    a, b = (uniq // n_items).astype(np.int32), (uniq % n_items).astype(np.int32)
    order = np.lexsort((b, -weight, a))
    a, b, weight = a[order], b[order], weight[order]
    rule_indptr = np.zeros(n_items + 1, np.int64)
    np.cumsum(np.bincount(a, minlength=n_items), out=rule_indptr[1:])
    return rule_indptr, b, weight


@njit(cache=True)
def _sr_pairs(
    indptr: np.ndarray, items: np.ndarray, steps: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    total = 0
    for s in range(len(indptr) - 1):
        length = indptr[s + 1] - indptr[s]
        for p in range(length):
            total += min(steps, length - 1 - p)
    src = np.empty(total, np.int32)
    dst = np.empty(total, np.int32)
    w = np.empty(total, np.float64)
    at = 0
    for s in range(len(indptr) - 1):
        lo, hi = indptr[s], indptr[s + 1]
        for p in range(lo, hi):
            for gap in range(1, steps + 1):
                if p + gap >= hi:
                    break
                src[at] = items[p]
                dst[at] = items[p + gap]
                w[at] = 1.0 / gap
                at += 1
    return src, dst, w


@njit(cache=True)
def _top(scores: np.ndarray, touched: np.ndarray, n_touched: int, k: int) -> np.ndarray:
    """The k best touched items by score (ties: smaller item); resets their scores to 0."""
    items = np.sort(touched[:n_touched])
    vals = np.empty(n_touched, np.float64)
    for i in range(n_touched):
        vals[i] = scores[items[i]]
        scores[items[i]] = 0.0
    order = np.argsort(-vals, kind="mergesort")[:k]
    return items[order].astype(np.int32)


@njit(cache=True)
def sr_top(rule_indptr: np.ndarray, rule_items: np.ndarray, last: int, k: int) -> np.ndarray:
    """SR's answer: the rules of the last item, heaviest first (already stored that way)."""
    lo = rule_indptr[last]
    hi = min(rule_indptr[last + 1], lo + k)
    return rule_items[lo:hi].copy()


@njit(cache=True)
def neighbourhood_top(
    session_items: np.ndarray,
    now_s: float,
    method: int,
    seq_indptr: np.ndarray,
    uniq_indptr: np.ndarray,
    uniq_items: np.ndarray,
    uniq_pos: np.ndarray,
    ended_s: np.ndarray,
    item_indptr: np.ndarray,
    item_sessions: np.ndarray,
    idf: np.ndarray,
    mark: np.ndarray,
    scores: np.ndarray,
    k: int,
) -> np.ndarray:
    """V-SKNN / STAN / VSTAN top-k for one session (items in event order, known only).

    `mark` (all -1) and `scores` (all 0) are item-sized scratch arrays, returned clean.
    """
    length = len(session_items)
    # distinct current items: mark[item] = 1-based position of the last occurrence
    for p in range(length):
        mark[session_items[p]] = p + 1
    distinct = np.unique(session_items)
    n_distinct = len(distinct)
    # the SAMPLE most recent past sessions holding any current item
    total = 0
    for it in distinct:
        total += item_indptr[it + 1] - item_indptr[it]
    pool: np.ndarray = np.empty(total, np.int32)
    at = 0
    for it in distinct:
        for q in range(item_indptr[it], item_indptr[it + 1]):
            pool[at] = item_sessions[q]
            at += 1
    pool = np.unique(pool)[::-1][:SAMPLE]  # larger id = more recent
    sim = np.zeros(len(pool), np.float64)
    for j in range(len(pool)):
        s = pool[j]
        overlap = 0.0
        for q in range(uniq_indptr[s], uniq_indptr[s + 1]):
            p = mark[uniq_items[q]]
            if p > 0:
                if method == VSKNN:
                    overlap += p / length
                else:
                    overlap += np.exp((p - length) / LAMBDA_SPW)
        if method == VSKNN:
            sim[j] = overlap / length
        else:
            size = uniq_indptr[s + 1] - uniq_indptr[s]
            recency = np.exp(-max(now_s - ended_s[s], 0.0) / LAMBDA_SNH_S)
            sim[j] = overlap / np.sqrt(n_distinct * size) * recency
    best = np.argsort(-sim, kind="mergesort")[:NEIGHBOURS]  # ties: the more recent
    touched: np.ndarray = np.empty(NEIGHBOURS * 64 + 1, np.int32)
    n_touched = 0
    for j in best:
        s = pool[j]
        if sim[j] <= 0.0:
            continue
        # the most recent current item the neighbour holds: its step back and position there
        step_back = length + 1
        shared_pos = 0.0
        for q in range(uniq_indptr[s], uniq_indptr[s + 1]):
            p = mark[uniq_items[q]]
            if p > 0 and length - p + 1 < step_back:
                step_back = length - p + 1
                shared_pos = uniq_pos[q]
        if method == VSKNN:
            damp = 1.0 / step_back
        elif method == VSTAN:
            damp = np.exp(-(step_back - 1) / LAMBDA_IPW)
        else:
            damp = 1.0
        for q in range(uniq_indptr[s], uniq_indptr[s + 1]):
            item = uniq_items[q]
            vote = sim[j] * damp
            if method == VSKNN:
                vote *= 1.0 + LAMBDA_IDF_VSKNN * idf[item]
            else:
                vote *= np.exp(-abs(uniq_pos[q] - shared_pos) / LAMBDA_INH)
                if method == VSTAN:
                    vote *= 1.0 + LAMBDA_IDF_VSTAN * idf[item]
            if scores[item] == 0.0:
                if n_touched == len(touched):
                    grown: np.ndarray = np.empty(2 * len(touched), np.int32)
                    grown[:n_touched] = touched
                    touched = grown
                touched[n_touched] = item
                n_touched += 1
            scores[item] += vote
    for p in range(length):
        mark[session_items[p]] = -1
    return _top(scores, touched, n_touched, k)


class SessionBaselines:
    """SR, V-SKNN, STAN and VSTAN over one History, as `Baseline` callables."""

    # The training report asks each method twice per test query: its top 20 (the baselines'
    # metrics) and its top 300 (recall per generator, `pool+`). A top k is a prefix of the
    # top 300 (a stable sort of the same scores), so each neighbourhood is computed once.
    MEMO_K = 300

    def __init__(self, history: History, n_items: int) -> None:
        self.history = history
        self._mark = np.full(n_items, -1, np.int64)
        self._scores = np.zeros(n_items, np.float64)
        self._memo: dict[tuple[int, bytes, float], np.ndarray] = {}

    def sr(self, catalog: Catalog, session: SessionArrays, k: int) -> np.ndarray:
        known = session.items[session.items >= 0]
        if len(known) == 0:
            return np.zeros(0, np.int32)
        rule_indptr, rule_items, _ = self.history.rules
        return sr_top(rule_indptr, rule_items, int(known[-1]), k)

    def _neighbourhood(self, session: SessionArrays, k: int, method: int) -> np.ndarray:
        keep = session.items >= 0
        known = session.items[keep].astype(np.int32)
        if len(known) == 0 or self.history.sessions == 0:
            return np.zeros(0, np.int32)
        now_s = float(session.times_s[keep][-1])
        key = (method, known.tobytes(), now_s)
        if k <= self.MEMO_K and key in self._memo:
            return self._memo[key][:k]
        h = self.history
        top = neighbourhood_top(
            known,
            now_s,
            method,
            h.seq_indptr,
            h.uniq_indptr,
            h.uniq_items,
            h.uniq_pos,
            h.ended_s,
            h.item_indptr,
            h.item_sessions,
            h.idf,
            self._mark,
            self._scores,
            max(k, self.MEMO_K),
        )
        self._memo[key] = top
        return top[:k]

    def vsknn(self, catalog: Catalog, session: SessionArrays, k: int) -> np.ndarray:
        return self._neighbourhood(session, k, VSKNN)

    def stan(self, catalog: Catalog, session: SessionArrays, k: int) -> np.ndarray:
        return self._neighbourhood(session, k, STAN)

    def vstan(self, catalog: Catalog, session: SessionArrays, k: int) -> np.ndarray:
        return self._neighbourhood(session, k, VSTAN)
