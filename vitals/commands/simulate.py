"""``vitals simulate``: a seeded, labelled synthetic trace (population or scenario)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from ingest.replay import read_trace
from simulators.errors import SimulatorError
from simulators.generate import Options, simulate
from simulators.plan import (
    DEFAULT_EVENTS,
    DEFAULT_START,
    EVENT_KEYS,
    parse_event_rates,
    parse_time,
    population_plan,
    scenario_plan,
)
from simulators.publisher import publish_trace
from vitals.commands.common import Subparsers, add_command
from vitals.errors import VitalsError
from vitals.settings import Settings


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "simulate",
        _simulate,
        "generate a labelled synthetic trace",
        "Write TRACE (JSONL, gzipped if it ends in .gz) plus <stem>.labels.jsonl (ground "
        "truth) and <stem>.users.json (users, devices, fake contacts). Same seed, same bytes.",
    )
    parser.add_argument("-o", "--output", type=Path, required=True, help="trace file to write")
    parser.add_argument("--users", type=int, default=10, help="population size (default 10)")
    parser.add_argument("--hours", type=float, default=2.0, help="trace length (default 2)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument(
        "--events",
        default=DEFAULT_EVENTS,
        help=f"KEY:FRACTION,... fraction of users per event; keys: {', '.join(EVENT_KEYS)} "
        f"(default {DEFAULT_EVENTS})",
    )
    parser.add_argument("--start", default=DEFAULT_START, help=f"ISO start ({DEFAULT_START})")
    parser.add_argument("--scenario", type=Path, help="JSON scenario file instead of a population")
    parser.add_argument("--no-accel", action="store_true", help="omit accelerometer payloads")
    parser.add_argument(
        "--waveforms",
        default="",
        help="also write raw waveforms: ecg, ppg or ecg,ppg (large; off by default)",
    )
    parser.add_argument("--accel-hz", type=int, default=25, help="accelerometer rate (25)")
    parser.add_argument("--rr-batch-ms", type=int, default=5000, help="RR batch period (5000)")
    parser.add_argument(
        "--accel-batch-ms", type=int, default=1000, help="accelerometer batch period (1000)"
    )
    parser.add_argument(
        "--publish", metavar="URL", help="then publish the trace to this MQTT broker"
    )
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument(
        "--realtime", action="store_true", help="publish in real time, as devices would"
    )
    pace.add_argument("--speed", type=float, help="publish at N x real time")


def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    try:
        kinds = ["rr"] + ([] if args.no_accel else ["accel"])
        kinds += [k for k in args.waveforms.split(",") if k.strip()]
        options = Options(
            kinds=tuple(kinds),
            accel_fs_hz=args.accel_hz,
            rr_batch_ms=args.rr_batch_ms,
            accel_batch_ms=args.accel_batch_ms,
        )
        if args.scenario:
            plan = scenario_plan(args.scenario, None)
        else:
            plan = population_plan(
                args.users,
                args.hours,
                args.seed,
                parse_event_rates(args.events),
                parse_time(args.start),
            )
        with tqdm(
            total=1000,
            desc="simulate",
            unit="‰",
            file=sys.stderr,
            dynamic_ncols=True,
            disable=None,  # only on a terminal
            bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]",
        ) as bar:

            def progress(done: float) -> None:
                bar.update(int(done * 1000) - bar.n)

            result = simulate(plan, args.output, options, progress)
    except SimulatorError as error:
        raise VitalsError(str(error)) from error
    print(
        f"wrote {result.lines} payloads ({result.bytes / 1e6:.1f} MB) for {len(plan.users)} "
        f"users in {result.seconds:.1f} s to {result.trace}\n"
        f"labels: {result.labels_path} ({len(result.labels)} events)\n"
        f"users:  {result.manifest_path}"
    )
    if args.publish:
        speed = 1.0 if args.realtime else args.speed
        published = publish_trace(read_trace(result.trace), args.publish, speed=speed)
        print(
            f"published {published.messages} payloads to {args.publish} in {published.wall_s:.1f} s"
        )
    return 0
