"""Benchmarks for remotebook (run from the repo root, as root: `.venv/bin/python -m bench.bench_up`)."""
