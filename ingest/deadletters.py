"""What one source may store as dead letters: payloads truncated (with a SHA-256 of the
whole) and a per-device quota of rows per hour, so a broken or hostile device cannot
fill the database. Rows over the quota are counted and logged, not stored."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from storage.repositories.ingest import DeadLetterRow


@dataclass(frozen=True)
class DeadLetterLimits:
    #: Raw bytes kept of one refused payload (the rest is summarised by its SHA-256).
    max_payload_bytes: int = 16 * 1024
    #: Dead-letter rows one device (or, when no device is known, one topic user / all
    #: unattributed input together) may store per clock hour.
    rows_per_hour: int = 2000


def truncated(row: DeadLetterRow, max_bytes: int) -> DeadLetterRow:
    """The row with its payload cut to ``max_bytes``; the detail then names the original
    size and the SHA-256 of the whole payload (so it can still be matched)."""
    if len(row.payload) <= max_bytes:
        return row
    digest = hashlib.sha256(row.payload).hexdigest()
    note = f" [payload truncated to {max_bytes} of {len(row.payload)} bytes, sha256 {digest}]"
    return replace(row, payload=row.payload[:max_bytes], detail=row.detail + note)


def source_of(row: DeadLetterRow) -> str:
    if row.device_id is not None:
        return f"device:{row.device_id}"
    if row.user_id is not None:
        return f"user:{row.user_id}"
    return "unattributed"


class DeadLetterQuota:
    """Counts rows per source in the current clock hour (in memory: a restart starts a
    new count)."""

    def __init__(
        self, limits: DeadLetterLimits | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.limits = limits or DeadLetterLimits()
        self.clock = clock
        self.hour = -1
        self.used: dict[str, int] = {}

    def admit(
        self, rows: Sequence[DeadLetterRow]
    ) -> tuple[list[DeadLetterRow], list[DeadLetterRow]]:
        """(rows to store, truncated as needed; rows over their source's quota)."""
        hour = int(self.clock() // 3600)
        if hour != self.hour:
            self.hour, self.used = hour, {}
        kept, dropped = [], []
        for row in rows:
            source = source_of(row)
            used = self.used.get(source, 0)
            if used >= self.limits.rows_per_hour:
                dropped.append(row)
                continue
            self.used[source] = used + 1
            kept.append(truncated(row, self.limits.max_payload_bytes))
        return kept, dropped
