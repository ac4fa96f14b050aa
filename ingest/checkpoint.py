"""Users' checkpoints (``detectorStates.state``) back into engine state, never failing.

A checkpoint that cannot be read — not JSON, a version with no upgrade (a newer release's,
or an old one whose upgrade was dropped), or fields that no longer match the state classes
— must not stop the batch that needs it: its user starts afresh, with one warning naming
the user and the reason and the ``vitals_checkpoints_reset`` counter. The user keeps the
clock of the checkpoint when it can be read (windows already stored stay closed, so a late
reading for one is still refused rather than stored twice); the detectors' memory (open
windows, baseline, rule and fall state) starts empty, as for a new user.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson

from detectors.serialize import StateMismatch, UnknownStateVersion
from ingest.metrics import Metrics
from ingest.userstate import UserState

log = logging.getLogger(__name__)

#: Longest reason quoted in the warning (a decoding error may quote a long value).
_REASON_CHARS = 240


def restore_checkpoints(
    blobs: Mapping[int, bytes], metrics: Metrics | None = None
) -> list[UserState]:
    """The state of each user of ``blobs`` ({userId: checkpoint}), fresh where unreadable."""
    return [restore_checkpoint(user_id, blob, metrics) for user_id, blob in blobs.items()]


def restore_checkpoint(user_id: int, blob: bytes, metrics: Metrics | None = None) -> UserState:
    """The state checkpoint ``blob`` of ``user_id`` holds, or a fresh one (logged, counted)."""
    try:
        data = orjson.loads(blob)
    except orjson.JSONDecodeError as error:
        return _reset(user_id, None, "unreadable", f"not JSON ({error})", metrics)
    try:
        state = UserState.from_json(data)
    except UnknownStateVersion as error:
        return _reset(user_id, data, "version", str(error), metrics)
    except StateMismatch as error:
        return _reset(user_id, data, "fields", str(error), metrics)
    if state.user_id != user_id:
        reason = f"holds the state of user {state.user_id}"
        return _reset(user_id, data, "fields", reason, metrics)
    return state


def _reset(user_id: int, data: Any, kind: str, reason: str, metrics: Metrics | None) -> UserState:
    if len(reason) > _REASON_CHARS:
        reason = reason[: _REASON_CHARS - 1] + "…"
    log.warning("checkpoint of user %d reset to a fresh state: %s", user_id, reason)
    if metrics is not None:
        metrics.checkpoints_reset.labels(kind).inc()
    return UserState(
        user_id,
        watermark_ms=_clock(data, "watermark_ms"),
        closed_until_ms=_clock(data, "closed_until_ms"),
    )


def _clock(data: Any, name: str) -> int:
    """Field ``name`` (a reading time) of an unreadable checkpoint where readable, else 0."""
    value = data.get(name) if isinstance(data, dict) else None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return 0
