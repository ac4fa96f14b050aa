"""Mosquitto's password and ACL files for the registered devices (``vitals devices
mosquitto``): the broker side of the MQTT topic contract ``vitals/v1/{user}/{device}/{kind}``.

Pure text formatting: the caller reads the enabled devices from storage
(:func:`storage.repositories.devices.enabled_devices`) and writes the files.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ingest.errors import IngestError
from storage.repositories.devices import hash_secret


class BrokerConfigError(IngestError):
    """The broker's files cannot be written as asked (e.g. a device holds the pipeline's
    broker user name)."""


class BrokerAccount(Protocol):
    """What the files need of one device row."""

    @property
    def deviceId(self) -> str: ...
    @property
    def userId(self) -> int: ...
    @property
    def credentialHash(self) -> str | None: ...


def mosquitto_files(
    devices: Sequence[BrokerAccount],
    pipeline_user: str,
    pipeline_password: str | None = None,
    *,
    kinds: Sequence[str],
) -> tuple[str, str]:
    """(password file, ACL file) for Mosquitto: each enabled device may write only its own
    topics, ``vitals/v1/{its user}/{itself}/{kind}`` for the contract's kinds (nothing
    deeper); the pipeline user may read ``vitals/v1/#`` and, when ``pipeline_password`` is
    given, gets a hashed password line too (without one it could not connect to a broker
    with ``allow_anonymous false``). Raises :class:`BrokerConfigError` when a device has
    the pipeline's user name: two password lines for one name hand over its account."""
    taken = [d.deviceId for d in devices if d.deviceId == pipeline_user]
    if taken:
        raise BrokerConfigError(
            f"device {taken[0]!r} has the pipeline's broker user name: disable or remove it "
            "(or choose another --pipeline-user) before writing the broker's files"
        )
    passwd = "".join(f"{d.deviceId}:{d.credentialHash}\n" for d in devices if d.credentialHash)
    if pipeline_password is not None:
        passwd = f"{pipeline_user}:{hash_secret(pipeline_password)}\n" + passwd
    acl = [f"user {pipeline_user}", "topic read vitals/v1/#", ""]
    for device in devices:
        acl += [f"user {device.deviceId}"]
        acl += [f"topic write vitals/v1/{device.userId}/{device.deviceId}/{k}" for k in kinds]
        acl += [""]
    return passwd, "\n".join(acl)
