"""``vitals devices add|list|enable|disable|mosquitto``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ingest.broker_files import mosquitto_files
from ingest.topics import KINDS
from storage.repositories.devices import (
    PLACEMENTS,
    add_device,
    all_devices,
    enabled_devices,
    set_enabled,
)
from vitals.commands.common import Subparsers, add_command, open_database
from vitals.settings import Settings


def register(subparsers: Subparsers) -> None:
    devices = add_command(subparsers, "devices", _usage, "register devices and their credentials")
    actions = devices.add_subparsers(dest="devices_action", metavar="ACTION", required=True)
    add = add_command(
        actions,
        "add",
        _add,
        "register a device for a user; prints its MQTT credential once",
        database=True,
    )
    add.add_argument("--user", type=int, required=True, help="user id the device publishes for")
    add.add_argument("--device", required=True, help="device id, also its MQTT user name")
    add.add_argument("--label", help="e.g. 'Apple Watch' or 'chest strap'")
    add.add_argument(
        "--placement",
        choices=PLACEMENTS,
        help="where it is worn; the fall detector's model depends on it (default unknown)",
    )
    add_command(actions, "list", _list, "list devices", database=True)
    for name, enabled in (("enable", True), ("disable", False)):
        toggle = add_command(
            actions,
            name,
            _enable if enabled else _disable,
            f"{name} a device's publishing",
            database=True,
        )
        toggle.add_argument("device")
    files = add_command(
        actions,
        "mosquitto",
        _mosquitto,
        "write Mosquitto password and ACL files: each device may publish only for itself",
        database=True,
    )
    files.add_argument("--passwd", type=Path, required=True, help="password file to write")
    files.add_argument("--acl", type=Path, required=True, help="ACL file to write")
    files.add_argument(
        "--pipeline-user",
        default="vitals-ingest",
        help="broker user of the pipeline (reads all); its password line is the hash of "
        "VITALS_MQTT_PASSWORD when that is set",
    )


def _usage(args: argparse.Namespace, settings: Settings) -> int:
    return 2


def _add(args: argparse.Namespace, settings: Settings) -> int:
    _, sessions = open_database(settings)
    with sessions.begin() as session:
        device = add_device(
            session,
            user_id=args.user,
            device_id=args.device,
            label=args.label,
            reserved=[settings.mqtt_username or "vitals-ingest"],
            placement=args.placement,
        )
    print(f"device {device.device_id} registered for user {device.user_id}")
    print(f"MQTT username: {device.device_id}")
    print(f"MQTT password: {device.secret}")
    print(f"publish to:    vitals/v1/{device.user_id}/{device.device_id}/{{kind}}")
    print("The password is shown only now; only its hash is stored.")
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    _, sessions = open_database(settings)
    with sessions() as session:
        for device in all_devices(session):
            state = "enabled" if device.enabled else "disabled"
            seen = device.lastSeenAt.isoformat() if device.lastSeenAt else "never"
            worn = device.placement or "placement unknown"
            print(f"{device.deviceId}\tuser {device.userId}\t{worn}\t{state}\tlast seen {seen}")
    return 0


def _toggle(args: argparse.Namespace, settings: Settings, enabled: bool) -> int:
    _, sessions = open_database(settings)
    with sessions.begin() as session:
        set_enabled(session, args.device, enabled)
    print(f"device {args.device} {'enabled' if enabled else 'disabled'}")
    return 0


def _enable(args: argparse.Namespace, settings: Settings) -> int:
    return _toggle(args, settings, True)


def _disable(args: argparse.Namespace, settings: Settings) -> int:
    return _toggle(args, settings, False)


def _mosquitto(args: argparse.Namespace, settings: Settings) -> int:
    _, sessions = open_database(settings)
    with sessions() as session:
        password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
        devices = enabled_devices(session)
    passwd, acl = mosquitto_files(devices, args.pipeline_user, password, kinds=sorted(KINDS))
    args.passwd.write_text(passwd)
    args.passwd.chmod(0o600)
    args.acl.write_text(acl)
    print(f"wrote {args.passwd} and {args.acl}; reload Mosquitto (SIGHUP) to apply")
    return 0
