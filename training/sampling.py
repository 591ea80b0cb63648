"""Negative sampling of training queries: fewer rows per query, the same ranking signal.

A training query has up to 300 candidates and one true next item. LightGBM's cost per
boosting round (histograms, LambdaRank gradients) grows with the rows, while most of the 300
rows are easy negatives far down the generators' list that add little gradient. Per query we
keep every positive, the first `top` candidates in the generators' order (the hard negatives
the ranker must learn to reorder, and the part of the list the top 20 is drawn from), and a
uniform random sample of `random` of the rest (so the model still sees the tail it scores at
serving time). Features are computed on the full list first (some are normalized over the
whole list), so a kept row has exactly the values it would have at serving.

Validation and test keep all candidates: early stopping and the report measure what serving
does.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from training.dataset import ExampleSet


def sample_candidates(examples: ExampleSet, *, top: int, random: int, seed: int) -> ExampleSet:
    """Keep positives, the first `top` candidates and `random` others of each query.

    Args:
        examples: A window's example set (rows of each query in candidate order).
        top: Candidates kept from the head of each query's list (generator order).
        random: Candidates drawn uniformly from the rest of each list, without replacement.
        seed: Seed of the draw (same seed, same rows).

    Returns:
        The example set with the kept rows, in their original order within each query;
        `group` and the queries' `n_candidates` give the new sizes. Queries with at most
        `top + random` candidates are unchanged.
    """
    if top < 0 or random < 0:
        raise ValueError(f"candidate sampling: top={top}, random={random}; expected both >= 0")
    rng = np.random.default_rng(seed)
    offsets = examples.offsets
    keep = np.zeros(len(examples.label), bool)
    for q, size in enumerate(examples.group.tolist()):
        lo = int(offsets[q])
        if size <= top + random:
            keep[lo : lo + size] = True
            continue
        keep[lo : lo + top] = True
        keep[lo + top + rng.choice(size - top, random, replace=False)] = True
    keep |= examples.label > 0  # every positive, wherever the generators ranked it
    query_of_row = np.repeat(np.arange(len(examples.group)), examples.group)
    group = np.bincount(query_of_row[keep], minlength=len(examples.group)).astype(np.int32)
    queries = examples.queries.copy()
    queries["n_candidates"] = group
    return replace(
        examples,
        X=examples.X[keep],
        label=examples.label[keep],
        group=group,
        candidates=examples.candidates[keep],
        queries=queries,
    )
