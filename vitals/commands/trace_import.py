"""``vitals import wfdb|csv``: recorded traces into the JSONL contract."""

from __future__ import annotations

import argparse
from pathlib import Path

from simulators.errors import SimulatorError
from simulators.importers import ImportResult, import_csv, import_wfdb
from simulators.plan import parse_time
from simulators.sisfall import import_sisfall
from vitals.commands.common import Subparsers, add_command
from vitals.errors import VitalsError
from vitals.extras import require_extra
from vitals.settings import Settings


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers, "import", _usage, "convert a recorded trace (WFDB, CSV) to the JSONL contract"
    )
    sources = parser.add_subparsers(dest="import_source", metavar="SOURCE", required=True)
    wfdb = add_command(sources, "wfdb", _wfdb, "WFDB record: beats (annotations or detected)")
    wfdb.add_argument("record", type=Path, help="record path without extension, e.g. data/100")
    wfdb.add_argument("--annotator", default="atr", help="annotation file extension (atr)")
    wfdb.add_argument("--channel", type=int, default=0, help="ECG channel (0)")
    wfdb.add_argument("--ecg", action="store_true", help="also write the ECG as ecg payloads")
    csv = add_command(sources, "csv", _csv, "CSV of beats (rr_ms) or accelerometer (x,y,z)")
    csv.add_argument("file", type=Path, help="CSV with a header row")
    sisfall = add_command(
        sources,
        "sisfall",
        _sisfall,
        "SisFall trials (3- or 9-column files): one wearer per trial, labels and users",
    )
    sisfall.add_argument("folder", type=Path, help="SisFall folder (SUBJECT/CODE_SUBJECT_Rnn.*)")
    sisfall.add_argument(
        "--hold-seconds",
        type=float,
        default=120.0,
        help="seconds the final posture is held after each trial (120)",
    )
    sisfall.add_argument("--subjects", nargs="+", metavar="SA01", help="only these subjects")
    sisfall.add_argument("--codes", nargs="+", metavar="F01", help="only these trial codes")
    sisfall.add_argument("--first-user", type=int, default=1, help="user id of the first trial")
    sisfall.add_argument("--start", help="ISO time all trials start at (2025-01-15T08:00:00Z)")
    sisfall.add_argument("-o", "--output", type=Path, required=True, help="trace to write")
    for sub in (wfdb, csv):
        sub.add_argument("--user", type=int, required=True, help="user id in the payloads")
        sub.add_argument("--device", required=True, help="device id in the payloads")
        sub.add_argument("--start", help="ISO time of the first sample (default: record's)")
        sub.add_argument("-o", "--output", type=Path, required=True, help="trace to write")


def _usage(args: argparse.Namespace, settings: Settings) -> int:
    return 2


def _report(result: ImportResult) -> int:
    print(
        f"wrote {result.lines} payloads ({result.beats} beats, {len(result.labels)} labels) "
        f"to {result.trace}"
    )
    return 0


def _start(args: argparse.Namespace) -> int | None:
    return parse_time(args.start) if args.start else None


def _wfdb(args: argparse.Namespace, settings: Settings) -> int:
    require_extra("import")
    try:
        return _report(
            import_wfdb(
                args.record,
                args.output,
                user=args.user,
                device=args.device,
                start_ms=_start(args),
                annotator=args.annotator,
                channel=args.channel,
                ecg=args.ecg,
            )
        )
    except SimulatorError as error:
        raise VitalsError(str(error)) from error


def _csv(args: argparse.Namespace, settings: Settings) -> int:
    try:
        return _report(
            import_csv(
                args.file, args.output, user=args.user, device=args.device, start_ms=_start(args)
            )
        )
    except SimulatorError as error:
        raise VitalsError(str(error)) from error


def _sisfall(args: argparse.Namespace, settings: Settings) -> int:
    try:
        result = import_sisfall(
            args.folder,
            args.output,
            hold_s=args.hold_seconds,
            first_user=args.first_user,
            start_ms=_start(args),
            subjects=args.subjects,
            codes=args.codes,
        )
    except SimulatorError as error:
        raise VitalsError(str(error)) from error
    falls = sum(1 for name in result.trials if name.is_fall)
    print(
        f"wrote {result.lines} payloads of {len(result.trials)} trials ({falls} falls, "
        f"{len(result.trials) - falls} activities) as users {result.users[0]}-"
        f"{result.users[-1]} to {result.trace}"
    )
    return 0
