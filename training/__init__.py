"""Offline side of the recommender: data in, features, training, evaluation, batch scoring.

The sub-package `training.core` holds the logic the online server shares with training
(session state, candidate generation, feature vectors); `serving` imports it from there.
"""

import warnings


def silence_feast_warnings() -> None:
    """Hide the DuckDB deprecation Feast's offline store triggers (through ibis).

    It says nothing a user can act on and repeats in every process that reads a training set.
    Called here, where every process starts, and again after Feast is imported: importing
    Feast runs `warnings.simplefilter("once", DeprecationWarning)`, which takes precedence
    over filters installed before it.
    """
    warnings.filterwarnings("ignore", message=".*fetch_arrow_table", category=DeprecationWarning)


silence_feast_warnings()
