"""Errors of the ingest package, all under one root."""

from __future__ import annotations


class IngestError(Exception):
    """Root of every ingest error."""


class InvalidPayload(IngestError):
    """An MQTT message that is refused; it goes to the dead letters with ``reason``.

    ``reason`` is a short stable code (``not_json``, ``impossible_value``, ...), ``detail``
    names what was wrong in words, and the device/user are carried when known.
    """

    def __init__(
        self,
        reason: str,
        detail: str,
        *,
        device_id: str | None = None,
        user_id: int | None = None,
    ) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.device_id = device_id
        self.user_id = user_id
