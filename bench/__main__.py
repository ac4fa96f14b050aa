"""Run benchmarks: ``python -m bench`` (all) or ``python -m bench detectors history``."""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"


def available() -> list[str]:
    """Names of the benchmark modules in bench/ (``bench_<name>.py``)."""
    return sorted(p.stem.removeprefix("bench_") for p in BENCH_DIR.glob("bench_*.py"))


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, float):
        out.append((prefix, f"{value:.6g}"))
    else:
        out.append((prefix, str(value)))


def main(argv: list[str] | None = None) -> int:
    names = available()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all: {names})")
    args = parser.parse_args(argv)
    chosen = args.names or names
    unknown = [n for n in chosen if n not in names]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; available: {names}")
    RESULTS_DIR.mkdir(exist_ok=True)
    for name in chosen:
        print(f"== bench {name} ==", flush=True)
        started = time.perf_counter()
        module = importlib.import_module(f"bench.bench_{name}")
        figures = module.main()
        record = {
            "benchmark": name,
            "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "wall_s": round(time.perf_counter() - started, 2),
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpu_count": __import__("os").cpu_count(),
            "figures": figures,
        }
        rows: list[tuple[str, str]] = []
        _flatten("", figures, rows)
        width = max((len(k) for k, _ in rows), default=10)
        print(f"\n{'metric':<{width}}  value")
        for key, value in rows:
            print(f"{key:<{width}}  {value}")
        path = RESULTS_DIR / f"{name}.json"
        path.write_text(json.dumps(record, indent=2, default=str) + "\n")
        print(f"-> {path.relative_to(BENCH_DIR.parent)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
