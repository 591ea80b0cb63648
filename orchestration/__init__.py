"""The nightly chain as a Dagster graph (optional: the `orchestration` dependency group).

`recsys nightly` runs the same steps without an orchestrator; see README "Running it every
night". Nothing in recsys/, training/ or serving/ imports this package.
"""
