"""Offline side of the recommender: data in, features, training, evaluation, batch scoring.

The sub-package `training.core` holds the logic the online server shares with training
(session state, candidate generation, feature vectors); `serving` imports it from there.
"""

import warnings

# Feast's DuckDB offline store (through ibis) calls a DuckDB method deprecated in 1.5. The
# warning says nothing a user can act on and repeats in every process that reads a training
# set (scoring workers too), so it is silenced here, where every such process starts.
warnings.filterwarnings("ignore", message=".*fetch_arrow_table", category=DeprecationWarning)
