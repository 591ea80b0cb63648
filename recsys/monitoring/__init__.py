"""Monitoring: what the server served (impressions) and what the batch side checks against it.

Neutral ground for the serving side (writes the impression log) and the offline side (dbt
models, drift, skew, the report), so neither imports the other.
"""
