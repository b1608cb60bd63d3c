"""Benchmarks: run with ``python -m bench.fanout`` or ``python -m bench.startup`` from the project root."""
