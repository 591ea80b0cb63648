"""`recsys tradeoffs`: quality vs freshness vs cost of batch, online and hybrid answers.

It composes training's evaluation protocol (training/tradeoffs.py) with the batch job's own
scorer (serving/batch.py), which is why it lives here and not in recsys/ (recsys imports
neither).
"""
