"""Replay a trace (JSONL, optionally gzipped: one MQTT payload per line) through the same
batch processor as the live pipeline, in reading time — as fast as possible or paced."""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import orjson

from ingest.processor import BatchProcessor, BatchResult, Inbound
from storage.types import utc_from_ms


def read_trace(path: Path) -> Iterator[bytes]:
    """Lines of a trace file (``.gz`` is decompressed), blank lines skipped."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        for line in handle:
            stripped = line.strip()
            if stripped:
                yield stripped


@dataclass
class ReplayReport:
    lines: int = 0
    accepted: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    readings: int = 0
    alerts_opened: int = 0
    wall_s: float = 0.0
    reading_span_ms: int = 0
    #: The reading-time clock at the end (ms since the epoch; 0 before any reading).
    reading_time_ms: int = 0


class Replayer:
    """Feed trace lines to a :class:`BatchProcessor` in batches.

    ``speed`` None replays as fast as possible; otherwise reading time is paced at
    ``speed`` times real time. ``clock_step`` is called with the reading-time "now" after
    every batch (the notifier's clock in a replay: ``NotificationService.process_until``
    runs every due time up to it, each at its own second).
    """

    def __init__(
        self,
        processor: BatchProcessor,
        *,
        speed: float | None = None,
        batch_lines: int = 5000,
        clock_step: Callable[[datetime], object] | None = None,
        on_progress: Callable[[ReplayReport], None] | None = None,
    ) -> None:
        self.processor = processor
        self.speed = speed
        self.batch_lines = batch_lines if speed is None else min(batch_lines, 500)
        self.clock_step = clock_step
        self.on_progress = on_progress

    def run(self, lines: Iterable[bytes]) -> ReplayReport:
        report = ReplayReport()
        started = time.perf_counter()
        first_ts: int | None = None
        now_ms = 0
        batch: list[Inbound] = []
        for line in lines:
            batch.append(Inbound(None, line))
            if self.speed is not None:
                ts = _ts(line)
                if ts is not None:
                    first_ts = ts if first_ts is None else first_ts
                    due = started + (ts - first_ts) / 1000.0 / self.speed
                    if due > time.perf_counter():
                        now_ms = self._submit(batch, report, now_ms)
                        batch = []
                        time.sleep(max(due - time.perf_counter(), 0.0))
            if len(batch) >= self.batch_lines:
                now_ms = self._submit(batch, report, now_ms)
                batch = []
        now_ms = self._submit(batch, report, now_ms)
        self._count(self.processor.flush(), report, 0)
        if self.clock_step is not None and now_ms:
            self.clock_step(utc_from_ms(now_ms))
        report.reading_time_ms = now_ms
        report.wall_s = time.perf_counter() - started
        return report

    def _submit(self, batch: list[Inbound], report: ReplayReport, now_ms: int) -> int:
        if not batch:
            return now_ms
        result = self.processor.handle(batch)
        self._count(result, report, len(batch))
        now_ms = max(now_ms, result.reading_time_ms)
        if self.clock_step is not None and now_ms:
            self.clock_step(utc_from_ms(now_ms))
        if self.on_progress is not None:
            self.on_progress(report)
        return now_ms

    @staticmethod
    def _count(result: BatchResult, report: ReplayReport, lines: int) -> None:
        report.lines += lines
        report.accepted += result.accepted
        report.duplicates += result.duplicates
        report.dead_letters += result.dead_letters
        report.readings += result.readings
        report.alerts_opened += len(result.alerts_opened)


def _ts(line: bytes) -> int | None:
    try:
        value = orjson.loads(line).get("ts")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return value if isinstance(value, int) else None
