"""Per-device message numbering (a pure helper): new, duplicate, gap, counter reset or
regression, decided from the device's highest committed ``seq`` and the newest ``ts`` it
sent.

A redelivered message was committed before, so its ``ts`` is at most the newest ``ts`` of
the device: a lower ``seq`` with a *newer* ``ts`` is not a redelivery. It is a counter
reset (a reboot restarts at 1, or the counter jumped to a huge value once and now runs
normally again) when the ``seq`` is far below the last one or near zero, and a
regression (the device numbers messages out of sending order) otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

#: A lower ``seq`` with a newer ``ts`` is a counter reset when it is at most this, or at
#: least this far below the device's last ``seq``; closer below, it is a regression.
RESET_MARGIN = 1000
#: A jump ahead by more than this is not counted as lost messages (a counter that jumped,
#: e.g. to 2**63 - 1, lost nothing): it is logged as a jump instead.
MAX_COUNTED_GAP = 1_000_000


class SeqVerdict(StrEnum):
    NEW = "new"  # the next seq, or a gap of ``missing`` messages before it
    JUMP = "jump"  # far ahead: accepted, not counted as loss
    DUPLICATE = "duplicate"  # a redelivery: no second effect
    RESET = "reset"  # the device's counter restarted: accepted
    REGRESSION = "regression"  # lower seq, newer ts, not a reset: a dead letter


@dataclass(frozen=True, slots=True)
class SeqCheck:
    verdict: SeqVerdict
    missing: int = 0  # messages the device numbered but that never arrived

    @property
    def accepted(self) -> bool:
        return self.verdict in (SeqVerdict.NEW, SeqVerdict.JUMP, SeqVerdict.RESET)


def check_seq(last_seq: int | None, last_ts_ms: int | None, seq: int, ts_ms: int) -> SeqCheck:
    """Classify message ``(seq, ts_ms)`` of a device whose highest committed seq is
    ``last_seq`` and newest ts ``last_ts_ms`` (None: nothing committed / not known)."""
    if last_seq is None:
        return SeqCheck(SeqVerdict.NEW)
    if seq > last_seq:
        missing = seq - last_seq - 1
        if missing > MAX_COUNTED_GAP:
            return SeqCheck(SeqVerdict.JUMP)
        return SeqCheck(SeqVerdict.NEW, missing)
    if last_ts_ms is None or ts_ms <= last_ts_ms:
        return SeqCheck(SeqVerdict.DUPLICATE)
    if seq <= RESET_MARGIN or seq <= last_seq - RESET_MARGIN:
        return SeqCheck(SeqVerdict.RESET)
    return SeqCheck(SeqVerdict.REGRESSION)
