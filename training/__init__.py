"""Offline side of the recommender: data in, features, training, evaluation, batch scoring.

The sub-package `training.core` holds the logic the online server shares with training
(session state, candidate generation, feature vectors); `serving` imports it from there.
"""
