"""Benchmarks behind `make bench-*`; results go to benchmarks.json and BENCHMARKS.md."""
