"""Create a trace's users, devices and contacts from its manifest (``replay --register``)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from simulators.trace_io import companion_paths, read_manifest
from storage.repositories.devices import add_device, device_ids_of
from storage.repositories.people import add_contact, add_user, find_user
from vitals.errors import VitalsError


def register_manifest(trace: Path, sessions: sessionmaker[Session]) -> tuple[int, int]:
    """Create what is missing; return (users created, devices created). A user id already
    taken by another openId is an error: a trace never overwrites real users."""
    _, manifest_path = companion_paths(trace)
    manifest = read_manifest(manifest_path)
    users_created = devices_created = 0
    with sessions.begin() as session:
        for entry in manifest.users:
            existing = find_user(session, entry.user)
            if existing is not None and existing.openId != entry.open_id:
                raise VitalsError(
                    f"user id {entry.user} of the trace belongs to another user "
                    f"({existing.openId!r}); replay into an empty database"
                )
            if existing is None:
                add_user(session, open_id=entry.open_id, name=entry.name, user_id=entry.user)
                users_created += 1
                for contact in entry.contacts:
                    add_contact(
                        session,
                        user_id=entry.user,
                        name=contact.name,
                        phone=contact.phone,
                        relationship=contact.relationship or None,
                        is_primary=contact.primary,
                    )
            known = device_ids_of(session, entry.user)
            for device_id in entry.devices:
                if device_id not in known:
                    add_device(
                        session,
                        user_id=entry.user,
                        device_id=device_id,
                        placement=entry.placements.get(device_id),
                    )
                    devices_created += 1
        session.flush()
    return users_created, devices_created
