"""``vitals keys create|list|revoke``: API keys of clinicians and admins."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from storage.repositories.access import ROLES, create_api_key, list_api_keys, revoke_api_key
from vitals.commands.common import Subparsers, add_command, open_database
from vitals.errors import VitalsError
from vitals.settings import Settings


def register(subparsers: Subparsers) -> None:
    parser = add_command(subparsers, "keys", _usage, "API keys of the clinician API")
    actions = parser.add_subparsers(dest="keys_action", metavar="ACTION", required=True)
    create = add_command(
        actions,
        "create",
        _create,
        "create a key and print it once (only its hash is stored)",
        database=True,
    )
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument(
        "--patients",
        type=_id_list,
        default=(),
        help="comma-separated user ids a clinician key may see, e.g. 1,2",
    )
    create.add_argument("--name", default="", help="who holds the key (shown in audit/ack)")
    add_command(actions, "list", _list, "list keys (never their secrets)", database=True)
    revoke = add_command(
        actions, "revoke", _revoke, "revoke a key: it is refused from now on", database=True
    )
    revoke.add_argument("id", type=int, help="key id from `vitals keys list`")


def _id_list(text: str) -> tuple[int, ...]:
    try:
        ids = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--patients {text!r} is not a comma-separated list of user ids"
        ) from None
    if any(user_id < 1 for user_id in ids):
        raise argparse.ArgumentTypeError(f"--patients {text!r}: user ids are positive")
    return ids


def _usage(args: argparse.Namespace, settings: Settings) -> int:
    return 2


def _create(args: argparse.Namespace, settings: Settings) -> int:
    if args.role == "clinician" and not args.patients:
        raise VitalsError("a clinician key needs --patients (the user ids it may see)")
    _, sessions = open_database(settings)
    with sessions.begin() as session:
        issued = create_api_key(
            session,
            role=args.role,
            name=args.name,
            at=datetime.now(UTC),
            patient_ids=args.patients,
        )
    print(f"key {issued.id} ({issued.role}{', ' + issued.name if issued.name else ''})")
    print(issued.key)
    print("Store it now: it is not shown again (only its SHA-256 is kept).")
    print(
        "Use it on the web page of `vitals api` (paste it into the key form) or as "
        "'Authorization: Bearer <key>'."
    )
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    _, sessions = open_database(settings)
    with sessions() as session:
        keys = list_api_keys(session)
    print("id\tprefix\trole\tname\tcreated\trevoked\tpatients")
    for key in keys:
        revoked = key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else ""
        patients = ",".join(str(p) for p in key.patient_ids) or (
            "all" if key.role == "admin" else ""
        )
        created = key.created_at.isoformat(timespec="seconds")
        print(
            f"{key.id}\tvk_{key.prefix}\t{key.role}\t{key.name}\t{created}\t{revoked}\t{patients}"
        )
    return 0


def _revoke(args: argparse.Namespace, settings: Settings) -> int:
    _, sessions = open_database(settings)
    with sessions.begin() as session:
        changed = revoke_api_key(session, args.id, datetime.now(UTC))
    print(f"key {args.id} revoked" if changed else f"key {args.id} was already revoked")
    return 0
