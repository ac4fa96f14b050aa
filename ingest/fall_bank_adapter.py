"""Fall state of many users indexed by slot, stepped over a batch's accelerometer columns.

The same interface as the cross-user fall kernel (``detectors.fall_bank``: ``FallBank``
and ``fall_step_bank``) so that the engine feeds it columns unchanged; this version keeps
one :class:`~detectors.FallState` per slot and folds each slot's chunks with
:func:`~detectors.fall_step_chunks` (equal to ``fall_step`` on each chunk), so it is exact
by construction and serves until the vectorised kernel replaces it.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import ArrayLike

from detectors import (
    DEFAULT,
    AccelChunk,
    AlertAction,
    DetectorConfig,
    FallState,
    fall_cancel,
    fall_step_chunks,
    fall_tick,
)


class FallBank:
    """One :class:`FallState` per slot (slots are handed out by :meth:`add`)."""

    def __init__(self, config: DetectorConfig = DEFAULT, capacity: int = 1024) -> None:
        del capacity  # a list grows by itself
        self.config = config
        self._states: list[FallState] = []

    def __len__(self) -> int:
        return len(self._states)

    def add(self, state: FallState | None = None) -> int:
        self._states.append(FallState() if state is None else state)
        return len(self._states) - 1

    def get(self, slot: int) -> FallState:
        return self._states[slot]

    def set(self, slot: int, state: FallState) -> None:
        self._states[slot] = state

    def set_placement(self, slot: int, placement: str) -> None:
        if self._states[slot].placement != placement:
            self._states[slot] = replace(self._states[slot], placement=placement)

    def cancel(self, slot: int, at_ms: int) -> None:
        self._states[slot] = fall_cancel(self._states[slot], at_ms, self.config)

    def tick(self, slots: ArrayLike, now_ms: ArrayLike) -> list[tuple[int, AlertAction]]:
        """``fall_tick`` of each ``slots[k]`` at ``now_ms[k]``; ``(k, action)`` in order."""
        actions: list[tuple[int, AlertAction]] = []
        slots_list = np.asarray(slots, dtype=np.int64).tolist()
        now_list = np.broadcast_to(np.asarray(now_ms, dtype=np.int64), (len(slots_list),))
        for k, (slot, now) in enumerate(zip(slots_list, now_list.tolist(), strict=True)):
            state = self._states[slot]
            if state.pending_onset_ms is None:
                continue  # fall_tick changes nothing without a pending fall
            self._states[slot], new = fall_tick(state, now, self.config)
            actions.extend((k, action) for action in new)
        return actions


def fall_step_bank(  # noqa: PLR0917 - the columns of a batch
    bank: FallBank,
    slot: ArrayLike,
    start_ms: ArrayLike,
    fs_hz: ArrayLike,
    offsets: ArrayLike,
    xyz_g: ArrayLike,
) -> list[tuple[int, AlertAction]]:
    """Fold chunk ``i`` (rows ``offsets[i]:offsets[i + 1]`` of ``xyz_g``, first sample at
    ``start_ms[i]``, rate ``fs_hz[i]``) into ``slot[i]``'s state, in arrival order per slot;
    returns ``(i, action)`` for every action, in chunk order."""
    slots = np.asarray(slot, dtype=np.int64).tolist()
    starts = np.asarray(start_ms, dtype=np.int64).tolist()
    rates = np.asarray(fs_hz, dtype=np.float64).tolist()
    bounds = np.asarray(offsets, dtype=np.int64).tolist()
    xyz = np.asarray(xyz_g, dtype=np.float64)
    by_slot: dict[int, list[int]] = {}
    for i, s in enumerate(slots):
        by_slot.setdefault(s, []).append(i)
    actions: list[tuple[int, AlertAction]] = []
    for s, chunk_ids in by_slot.items():
        chunks = []
        for i in chunk_ids:
            block = xyz[bounds[i] : bounds[i + 1]]
            chunks.append(AccelChunk(starts[i], rates[i], block[:, 0], block[:, 1], block[:, 2]))
        bank._states[s], new = fall_step_chunks(bank._states[s], chunks, bank.config)
        actions.extend((chunk_ids[k], action) for k, action in new)
    actions.sort(key=lambda item: item[0])
    return actions
