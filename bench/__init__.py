"""Benchmarks behind `make bench-*`: outside the product packages, importing any of them."""
