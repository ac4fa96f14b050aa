"""``vitals plot TRACE --user N``: a picture of one user's trace, labels and alerts."""

from __future__ import annotations

import argparse
from pathlib import Path

from simulators.errors import SimulatorError
from simulators.plotting import plot_user
from simulators.trace_arrays import load_user
from simulators.trace_io import companion_paths, read_labels, read_manifest
from storage.repositories.outcomes import StoredAlert, alerts_from_db, db_user_id, readings_from_db
from vitals.commands.common import Subparsers, add_command, open_database
from vitals.errors import VitalsError
from vitals.settings import Settings


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "plot",
        _plot,
        "draw one user's trace: HR, HRV/stress, accelerometer, labels, alerts",
    )
    parser.add_argument("trace", type=Path, help="trace (.jsonl or .jsonl.gz)")
    parser.add_argument("--user", type=int, required=True, help="user id in the trace")
    parser.add_argument("--db", help="database URL: also draw healthReadings and alerts")
    parser.add_argument("-o", "--output", type=Path, required=True, help="image (.png/.svg)")


def _plot(args: argparse.Namespace, settings: Settings) -> int:
    try:
        labels_path, manifest_path = companion_paths(args.trace)
        labels = (
            [lb for lb in read_labels(labels_path) if lb.user == args.user]
            if (labels_path.exists())
            else []
        )
        manifest = read_manifest(manifest_path) if manifest_path.exists() else None
        signals = load_user(args.trace, args.user)
    except SimulatorError as error:
        raise VitalsError(str(error)) from error
    if signals.beat_ms.size == 0 and signals.accel_ms.size == 0:
        raise VitalsError(f"user {args.user} has no rr or accel payloads in {args.trace}")
    alerts: list[StoredAlert] = []
    readings = []
    if args.db:
        engine, _ = open_database(settings.model_copy(update={"database_url": args.db}))
        open_ids = {u.open_id: u.user for u in manifest.users} if manifest else {}
        open_id = next((k for k, v in open_ids.items() if v == args.user), None)
        alerts = [a for a in alerts_from_db(engine, open_ids) if a.user == args.user]
        readings = readings_from_db(engine, db_user_id(engine, open_id, args.user))
    plot_user(signals, args.output, user=args.user, labels=labels, alerts=alerts, readings=readings)
    print(f"wrote {args.output}")
    return 0
