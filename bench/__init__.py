"""Benchmarks (not tests): ``python -m bench [name ...]`` runs ``bench/bench_<name>.py``.

Each module exposes ``main() -> dict`` that prints its own detail and returns its figures;
the runner prints a summary table and writes ``bench/results/<name>.json``.
"""
