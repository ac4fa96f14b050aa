"""Stored results stay byte-identical: replay fixed traces and compare table digests.

A refactor or a speed-up of the pipeline must not change what it stores. This check
replays seeded traces with ``vitals replay --register`` (the public command, embedded
default: a fresh SQLite file, texts to the outbox) and hashes, per table, every stored row
in primary-key order: ``healthReadings``, ``healthAlerts``, ``alertStates``,
``alertEvents``, ``smsNotifications``, ``deadLetters`` and the checkpoints' watermarks.
Wall-clock columns (when the replay happened to run) are left out, nothing else.

The digests of the last accepted behaviour are kept in ``bench/golden.json``::

    python -m bench golden                      # replay and compare (exit 1 on a change)
    GOLDEN_UPDATE=1 python -m bench golden      # accept the current behaviour
    GOLDEN_TRACES=pop python -m bench golden    # one trace only (score, pop)

Traces: ``score`` is the README's scored trace (100 wearers, 2 h, seed 7, default event
mix); ``pop`` is the benchmarks' population trace (200 wearers, 30 min). A change that
is *meant* to change stored results (a refitted detector) updates ``golden.json`` in the
same commit and says so.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.support import CACHE, trace

GOLDEN = Path(__file__).resolve().parent / "golden.json"

#: table -> (primary-key order, columns left out because they hold the replay's wall clock)
TABLES: dict[str, tuple[str, frozenset[str]]] = {
    "healthReadings": ("id", frozenset()),
    "healthAlerts": ("id", frozenset()),
    "alertStates": ("alertId", frozenset()),
    "alertEvents": ("id", frozenset()),
    "smsNotifications": ("id", frozenset()),
    "deadLetters": ("id", frozenset({"receivedAt"})),
    "detectorStates": ("userId", frozenset({"state", "updatedAt"})),
}


def score_trace() -> Path:
    """The README's scored trace: ``vitals simulate --users 100 --hours 2 --seed 7``."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / "score-100u-2h-seed7.jsonl.gz"
    if not path.exists():
        partial = CACHE / "partial-score-100u-2h-seed7.jsonl.gz"
        _vitals("simulate", "--users", "100", "--hours", "2", "--seed", "7", "-o", str(partial))
        for suffix in (".labels.jsonl", ".users.json"):
            stem = "score-100u-2h-seed7"
            (CACHE / f"partial-{stem}{suffix}").rename(CACHE / f"{stem}{suffix}")
        partial.rename(path)
    return path


def _vitals(*args: str) -> None:
    entry = "import sys; from vitals.cli import main; sys.exit(main())"
    command = [sys.executable, "-c", entry, *args]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def replay_digests(path: Path) -> dict[str, Any]:
    """Replay ``path`` into a fresh SQLite file; per table: row count and SHA-256."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/golden.db"
        _vitals("replay", str(path), "--register", "--quiet", "--notifier-after", "3600",
                "--db", url)  # fmt: skip
        engine = sa.create_engine(url)
        try:
            return {table: _digest(engine, table, *spec) for table, spec in TABLES.items()}
        finally:
            engine.dispose()


def _digest(engine: sa.Engine, table: str, order: str, skip: frozenset[str]) -> dict[str, Any]:
    meta = sa.Table(table, sa.MetaData(), autoload_with=engine)
    columns = [c for c in meta.columns if c.name not in skip]
    digest = hashlib.sha256()
    rows = 0
    with engine.connect() as connection:
        for row in connection.execute(sa.select(*columns).order_by(meta.c[order])):
            digest.update(repr(tuple(row)).encode())
            digest.update(b"\n")
            rows += 1
    return {"rows": rows, "sha256": digest.hexdigest()}


def main() -> dict[str, Any]:
    chosen = os.environ.get("GOLDEN_TRACES", "score,pop").split(",")
    traces = {"score": score_trace, "pop": lambda: trace(200, 30)}
    measured = {name: replay_digests(traces[name]()) for name in chosen}
    golden: dict[str, Any] = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
    if os.environ.get("GOLDEN_UPDATE") == "1":
        golden.update(measured)
        GOLDEN.write_text(json.dumps(golden, indent=2, sort_keys=True) + "\n")
        print(f"golden digests written to {GOLDEN}")
    changed = [
        f"{name}.{table}"
        for name, tables in measured.items()
        for table, figure in tables.items()
        if golden.get(name, {}).get(table) != figure
    ]
    for item in changed:
        name, table = item.split(".")
        print(f"CHANGED {item}: {golden.get(name, {}).get(table)} -> {measured[name][table]}")
    if changed:
        raise SystemExit(f"stored results differ from bench/golden.json: {', '.join(changed)}")
    print("stored results identical to bench/golden.json")
    return {"identical": True, "traces": measured}
