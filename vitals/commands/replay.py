"""``vitals replay TRACE``: a trace through the same pipeline as ``vitals run``, in
reading time, in-process (default) or by publishing it to a broker."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from ingest.replay import Replayer, ReplayReport, read_trace
from simulators.errors import SimulatorError
from simulators.publisher import publish_trace
from storage.types import utc_from_ms
from vitals.commands.common import DbMode, Subparsers, add_command, open_database
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
        "replaying the same trace twice gives the same alert history. A missing SQLite "
        "database is created. Exit 1 when no line of TRACE was a valid payload.",
        database=True,
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
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def count_lines(trace: Path) -> int:
    """Non-blank lines of the trace (the progress bar's total)."""
    return sum(1 for _ in read_trace(trace))


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    if not args.trace.is_file():
        raise VitalsError(f"trace {args.trace} does not exist")
    if args.speed is not None and args.speed <= 0:
        raise VitalsError(f"--speed {args.speed:g} must be more than 0")
    if args.via_mqtt:
        if args.register:  # for the `vitals run` that consumes the broker
            register_manifest(args.trace, open_database(settings, DbMode.CREATE)[1])
        try:
            published = publish_trace(read_trace(args.trace), args.via_mqtt, speed=args.speed)
        except (SimulatorError, OSError) as error:
            raise VitalsError(f"cannot publish to {args.via_mqtt}: {error}") from error
        print(
            f"published {published.messages} messages to {args.via_mqtt} "
            f"in {published.wall_s:.1f} s"
        )
        return 0 if published.messages else 1
    _, sessions = open_database(settings, DbMode.CREATE)
    if args.register:
        register_manifest(args.trace, sessions)
    pipeline = build_pipeline(settings, sessions)
    total = None if args.quiet else count_lines(args.trace)
    with logging_redirect_tqdm():
        bar = tqdm(
            total=total,
            unit="msg",
            unit_scale=True,
            disable=args.quiet,
            file=sys.stderr,
            desc="replay",
            dynamic_ncols=True,
        )

        def progress(report: ReplayReport) -> None:
            bar.update(report.lines - bar.n)
            bar.set_postfix(readings=report.readings, alerts=report.alerts_opened, refresh=False)

        replayer = Replayer(
            pipeline.processor,
            speed=args.speed,
            clock_step=pipeline.notifier.process_until,
            on_progress=progress,
        )
        try:
            report = replayer.run(read_trace(args.trace))
            if args.notifier_after > 0 and report.reading_time_ms:
                end = utc_from_ms(report.reading_time_ms)
                pipeline.notifier.process_until(end + timedelta(seconds=args.notifier_after))
        finally:
            bar.close()
    print(_summary(report))
    return _verdict(report, args.trace)


def _verdict(report: ReplayReport, trace: Path) -> int:
    """Exit status, with a line on stderr when the replay did not do what was meant."""
    valid = report.accepted + report.duplicates
    if valid == 0:
        print(
            f"vitals replay: no line of {trace} is a valid payload "
            f"({report.dead_letters:,} dead letters; see the deadLetters table)",
            file=sys.stderr,
        )
        return 1
    if report.accepted == 0:
        print(
            f"vitals replay: every payload of {trace} was already in this database "
            "(replayed before): nothing new was stored and no alert was raised. Replay into "
            "a fresh database (--db sqlite:///other.db) to run it again.",
            file=sys.stderr,
        )
    elif report.duplicates:
        print(
            f"vitals replay: {report.duplicates:,} payloads were already in this database "
            "and were skipped",
            file=sys.stderr,
        )
    return 0


def _summary(report: ReplayReport) -> str:
    rate = report.lines / report.wall_s if report.wall_s else 0.0
    return (
        f"replayed {report.lines:,} messages in {report.wall_s:.1f} s ({rate:,.0f} msg/s): "
        f"{report.accepted:,} accepted, {report.duplicates:,} duplicates, "
        f"{report.dead_letters:,} dead letters, {report.readings:,} readings, "
        f"{report.alerts_opened:,} alerts opened"
    )
