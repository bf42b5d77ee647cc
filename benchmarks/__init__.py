"""Benchmark scripts (run as modules from the repository root: ``python -m benchmarks.<script>``) and their
pytest-benchmark files (``make bench``). tests/test_benchmarks_smoke.py imports and smoke-runs every one of them."""
