"""Reproducible benchmarks (DESIGN §13): `python -m benchmarks --help`."""
