"""Benchmarks behind `make bench-*`; results go to benchmarks.json and BENCHMARKS.md."""

import warnings

# Feast's DuckDB offline store (through ibis) calls a method DuckDB deprecated; the warning
# repeats on every training-set read and says nothing a benchmark reader can act on.
warnings.filterwarnings("ignore", message=".*fetch_arrow_table", category=DeprecationWarning)
