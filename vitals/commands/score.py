"""``vitals score LABELS``: alerts in the database against ground-truth labels."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from simulators.errors import SimulatorError
from simulators.scoring import DEFAULT_TOLERANCE_MS, format_report, score_alerts
from simulators.trace_io import read_labels, read_manifest
from storage.repositories.outcomes import alerts_from_db, count_readings, rhythm_verdict_counts
from vitals.commands.common import Subparsers, add_command, open_database, safe_url
from vitals.errors import VitalsError
from vitals.settings import Settings


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "score",
        _score,
        "score raised alerts against a trace's ground-truth labels",
        "Per alert type: sensitivity, false alerts per user-hour, detection delay.",
        database=True,
    )
    parser.add_argument("labels", type=Path, help="<stem>.labels.jsonl (or .csv)")
    parser.add_argument(
        "--users-manifest",
        type=Path,
        help="users manifest (default: <stem>.users.json next to LABELS, if present)",
    )
    parser.add_argument(
        "--tolerance-s",
        type=float,
        default=DEFAULT_TOLERANCE_MS / 1000,
        help="an alert up to this long after a label's end still detects it (300)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _score(args: argparse.Namespace, settings: Settings) -> int:
    try:
        labels = read_labels(args.labels)
        manifest_path = args.users_manifest or args.labels.with_name(
            args.labels.name.replace(".labels.jsonl", ".users.json").replace(
                ".labels.csv", ".users.json"
            )
        )
        open_ids = None
        user_hours = float("nan")
        if manifest_path.exists() and manifest_path != args.labels:
            manifest = read_manifest(manifest_path)
            open_ids = {u.open_id: u.user for u in manifest.users}
            user_hours = manifest.user_hours
    except SimulatorError as error:
        raise VitalsError(str(error)) from error
    engine, _ = open_database(settings)
    label_users = {label.user for label in labels}
    raised = alerts_from_db(engine, open_ids)
    readings = count_readings(engine)
    if label_users and not readings and not any(a.user in label_users for a in raised):
        raise VitalsError(
            f"database {safe_url(settings.database_url)} holds no reading and no alert of "
            "the labelled users: replay the trace into it first (`vitals replay TRACE "
            "--register --db URL`) or pass the --db it was replayed into"
        )
    report = score_alerts(
        labels,
        raised,
        user_hours=user_hours,
        tolerance_ms=int(args.tolerance_s * 1000),
    )
    rhythm = rhythm_verdict_counts(engine)
    if args.json:
        print(json.dumps({**report.to_json(), "rhythm_verdicts": rhythm}, indent=2))
    else:
        print(format_report(report))
        print(
            f"rhythm verdicts in healthReadings: {rhythm['irregular']} irregular, "
            f"{rhythm['regular']} regular, {rhythm['unreadable']} unreadable (NULL)"
        )
    return 0
