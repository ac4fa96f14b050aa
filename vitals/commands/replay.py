"""``vitals replay TRACE``: a trace through the same pipeline as ``vitals run``, in
reading time, in-process (default) or by publishing it to a broker."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

from ingest.replay import Replayer, ReplayReport, read_trace
from simulators.publisher import publish_trace
from storage.types import utc_from_ms
from vitals.commands.common import Subparsers, add_command, open_database
from vitals.commands.register import register_manifest
from vitals.errors import VitalsError
from vitals.settings import Settings
from vitals.wiring import build_pipeline


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "replay",
        _replay,
        "replay a trace through the pipeline in reading time",
        "Runs every line of TRACE (JSONL, optionally .gz) through decode, windows, "
        "detectors, rules, storage and the notifier, with all timers in reading time: "
        "replaying the same trace twice gives the same alert history.",
    )
    parser.add_argument("trace", type=Path, help="trace file (.jsonl or .jsonl.gz)")
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, help="pace reading time at N x real time")
    pace.add_argument("--max", action="store_true", help="as fast as possible (default)")
    parser.add_argument(
        "--via-mqtt", metavar="URL", help="publish the trace to this broker instead"
    )
    parser.add_argument(
        "--register",
        action="store_true",
        help="create the trace's users, devices and contacts (from its manifest) first",
    )
    parser.add_argument(
        "--notifier-after",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="keep the notifier's reading-time clock running this long after the last "
        "reading, so the escalations of the trace's last alerts play out (default 0)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress line")


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    if not args.trace.exists():
        raise VitalsError(f"trace {args.trace} does not exist")
    _, sessions = open_database(settings)
    if args.register:
        register_manifest(args.trace, sessions)
    if args.via_mqtt:
        published = publish_trace(read_trace(args.trace), args.via_mqtt, speed=args.speed)
        print(
            f"published {published.messages} messages to {args.via_mqtt} "
            f"in {published.wall_s:.1f} s"
        )
        return 0
    pipeline = build_pipeline(settings, sessions)
    progress = None if args.quiet else _Progress()
    replayer = Replayer(
        pipeline.processor,
        speed=args.speed,
        clock_step=pipeline.notifier.process_until,
        on_progress=progress,
    )
    report = replayer.run(read_trace(args.trace))
    if args.notifier_after > 0 and report.reading_time_ms:
        end = utc_from_ms(report.reading_time_ms) + timedelta(seconds=args.notifier_after)
        pipeline.notifier.process_until(end)
    if progress:
        progress.done()
    print(_summary(report))
    return 0


class _Progress:
    def __init__(self) -> None:
        self.last = 0.0
        self.started = time.perf_counter()

    def __call__(self, report: ReplayReport) -> None:
        now = time.perf_counter()
        if now - self.last >= 0.5:
            rate = report.lines / max(now - self.started, 1e-9)
            sys.stderr.write(
                f"\r{report.lines:>10,} messages  {rate:>9,.0f} msg/s  "
                f"{report.readings:>8,} readings  {report.alerts_opened:>5} alerts"
            )
            sys.stderr.flush()
            self.last = now

    def done(self) -> None:
        sys.stderr.write("\n")


def _summary(report: ReplayReport) -> str:
    rate = report.lines / report.wall_s if report.wall_s else 0.0
    return (
        f"replayed {report.lines:,} messages in {report.wall_s:.1f} s ({rate:,.0f} msg/s): "
        f"{report.accepted:,} accepted, {report.duplicates:,} duplicates, "
        f"{report.dead_letters:,} dead letters, {report.readings:,} readings, "
        f"{report.alerts_opened:,} alerts opened"
    )
