"""Reproducible benchmarks (docs/ARCHITECTURE.md#benchmarks): `python -m benchmarks --help`."""
