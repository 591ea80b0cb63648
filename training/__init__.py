"""Training: point-in-time training sets, the LightGBM ranker, evaluation against baselines.

It stands on the shared trunk (`recsys`): candidates, features and scoring come from
`recsys.ranking`, the same code the server runs.
"""
