"""The fall detector of many users stepped at once: per-user state as arrays by slot.

:func:`fall_step_bank` folds a batch of accelerometer chunks of many users -- flat
arrays, as a columnar decoder produces them -- into a :class:`FallBank` and is *exactly*
:func:`~detectors.falls.fall_step` called for each user on each of its chunks in arrival
order: the same :class:`~detectors.falls.FallState` of every user to the bit (floats
compared with ``==``, the gravity estimate included) and the same actions.

Nearly every chunk of nearly every user is *quiet*: the detector is idle with no open
low-g run and no pending fall, and no sample is below the free-fall threshold. For such a
chunk ``fall_step`` only moves the gravity low-pass and the expected time of the next
sample. Here the users whose chunks of the batch are all quiet, contiguous and at one rate
are done with whole-batch array operations:

- one squared-magnitude pass over the batch and one per-chunk minimum decide "quiet"
  (with a relative margin of 1e-9 around the threshold: a chunk that close to it is
  given to the exact path rather than trusting that two summation orders agree);
- one ``lfilter`` recursion (its C routine ``_linear_filter``, as ``fall_step`` calls it)
  over a ``users x samples x 3`` block per (rate, samples-in-batch) group, each row with
  its own initial condition ``zi = (1 - alpha) * gravity``. Every row of the block is a
  separate 1-D line of the same C loop, with the same coefficients and the same initial
  state as ``fall_step`` gives it, so each output is bit for bit the per-user one; rows
  are *not* padded to a common length (a group holds users with the same number of
  samples), so no row's last output depends on where it sits in the block. A user's
  several chunks of a batch are joined in one row: the filter's internal state after a
  sample, ``0 * x - (alpha - 1) * y``, is exactly the ``(1 - alpha) * y`` that the next
  chunk's ``zi`` is built from (``fl(alpha - 1) == -fl(1 - alpha)``);
- ``next_ms`` (``start + (n - 1) * dt + dt``, the same float operations as ``fall_step``)
  and the gravity vector are written into the arrays.

Every other user of the batch (a dip, a pending fall, a candidate in progress, a gap or
overlap inside the batch, a rate change inside the batch) is stepped by the exact scalar
code: its ``FallState`` is materialised, folded with :func:`~detectors.falls.fall_step_chunks`
(itself equal to ``fall_step`` per chunk) and written back.

State layout (struct of arrays, indexed by slot): ``next_ms`` (NaN for none), the
gravity vector, a "simple" flag (idle, no open low run, no pending fall: a quiet chunk
changes nothing else), the dip gate of the slot's placement and the pending fall's due
time (for :meth:`FallBank.tick`); the rest of each slot's ``FallState`` is kept as the
object itself, whose ``next_ms`` and ``gravity_g`` the arrays override.

The engine's other calls on a user's fall state map to: ``fall_tick`` ->
:meth:`FallBank.tick` (vectorised filter, scalar ``fall_tick`` only where a pending fall
is due), ``fall_cancel`` -> :meth:`FallBank.cancel`, a placement change ->
:meth:`FallBank.set_placement`, checkpoints -> :meth:`FallBank.get` / :meth:`FallBank.set`.

Examples
--------
>>> import numpy as np
>>> bank = FallBank()
>>> a, b = bank.add(), bank.add(FallState(placement="waist"))
>>> xyz = np.tile([0.0, 0.0, 1.0], (50, 1))                  # two users, 25 samples each
>>> fall_step_bank(bank, np.array([a, b]), np.array([0, 0]), np.array([25.0, 25.0]),
...                np.array([0, 25, 50]), xyz)
[]
>>> bank.get(b).next_ms, bank.get(b).gravity_g, bank.get(b).placement
(1000.0, (0.0, 0.0, 1.0), 'waist')
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.signal import lfilter

try:  # the C routine behind lfilter, as detectors.falls calls it
    from scipy.signal._sigtools import _linear_filter as _LINEAR_FILTER
except ImportError:  # pragma: no cover
    _LINEAR_FILTER = None

from detectors.config import DEFAULT, DetectorConfig
from detectors.errors import InvalidAccelChunk
from detectors.falls import (
    _ZERO,
    AccelChunk,
    FallState,
    _gates,
    _replace,
    _to_idle,
    fall_cancel,
    fall_step_chunks,
    fall_tick,
)
from detectors.rules import AlertAction

__all__ = ["FallBank", "fall_step_bank"]

#: Relative margin around the dip threshold (on the squared magnitude) inside which a
#: chunk is given to the exact path: far above the few ulps by which two summation
#: orders of x² + y² + z² can differ.
QUIET_MARGIN = 1e-9
_NO_DUE = np.iinfo(np.int64).max


def _is_simple(state: FallState) -> bool:
    """True when a quiet chunk changes nothing but ``next_ms`` and ``gravity_g`` -- also
    after a gap (``_after_gap`` would reset nothing else)."""
    if not (
        state.phase == "idle"
        and state.low_start_ms is None
        and state.pending_onset_ms is None
        and state.pending_due_ms is None
        and state.low_ref_g == _ZERO
        and state.low_min_g == 0.0
    ):
        return False
    return _to_idle(state).__dict__ == state.__dict__


class FallBank:
    """Fall-detector state of many users as struct-of-arrays indexed by a slot.

    Parameters
    ----------
    config : DetectorConfig
        The thresholds every slot is stepped with (:func:`fall_step_bank` uses them).
    capacity : int
        Initial number of slots allocated (grows by doubling).
    """

    def __init__(self, config: DetectorConfig = DEFAULT, capacity: int = 1024) -> None:
        self.config = config
        capacity = max(1, int(capacity))
        self._size = 0
        self._next_ms = np.full(capacity, np.nan)
        self._gravity = np.zeros((capacity, 3))
        self._simple = np.zeros(capacity, dtype=bool)
        self._low_g = np.zeros(capacity)
        self._due_ms = np.full(capacity, _NO_DUE, dtype=np.int64)
        self._states: list[FallState] = []

    def __len__(self) -> int:
        return self._size

    def add(self, state: FallState | None = None) -> int:
        """A new slot holding ``state`` (``FallState()`` by default); returns its index."""
        if self._size == self._next_ms.size:
            self._grow(2 * self._size)
        slot = self._size
        self._size += 1
        self._states.append(FallState())
        self.set(slot, FallState() if state is None else state)
        return slot

    def get(self, slot: int) -> FallState:
        """The slot's exact :class:`FallState` (for checkpoints and the scalar path)."""
        self._check(slot)
        next_ms = float(self._next_ms[slot])
        g = self._gravity[slot]
        return _replace(
            self._states[slot],
            next_ms=None if math.isnan(next_ms) else next_ms,
            gravity_g=(float(g[0]), float(g[1]), float(g[2])),
        )

    def set(self, slot: int, state: FallState) -> None:
        """Put ``state`` in the slot (restore from a checkpoint, result of a scalar step)."""
        self._check(slot)
        if state.next_ms is not None and not math.isfinite(state.next_ms):
            raise ValueError(f"fall state of slot {slot}: next_ms={state.next_ms!r} not finite")
        self._states[slot] = state
        self._next_ms[slot] = np.nan if state.next_ms is None else float(state.next_ms)
        self._gravity[slot] = state.gravity_g
        self._simple[slot] = _is_simple(state)
        self._low_g[slot] = _gates(state, self.config)[0]
        onset, due = state.pending_onset_ms, state.pending_due_ms
        self._due_ms[slot] = _NO_DUE if onset is None or due is None else due

    def set_placement(self, slot: int, placement: str) -> None:
        """Where the slot's device is worn changed (``replace(state, placement=...)``)."""
        if self._states[slot].placement != placement:
            self.set(slot, _replace(self.get(slot), placement=placement))

    def cancel(self, slot: int, at_ms: int) -> None:
        """:func:`~detectors.falls.fall_cancel` on the slot ("I'm OK" at ``at_ms``)."""
        self.set(slot, fall_cancel(self.get(slot), at_ms, self.config))

    def tick(self, slots: ArrayLike, now_ms: ArrayLike) -> list[tuple[int, AlertAction]]:
        """:func:`~detectors.falls.fall_tick` of each ``slots[k]`` at ``now_ms[k]``.

        Only slots whose pending fall is due (``now_ms > pending_due_ms``) are stepped.

        Returns
        -------
        list of (int, AlertAction)
            ``(k, action)`` in the order of ``slots``.
        """
        slots_a = np.asarray(slots, dtype=np.intp)
        now_a = np.broadcast_to(np.asarray(now_ms, dtype=np.int64), slots_a.shape)
        self._check_many(slots_a)
        due = np.flatnonzero(now_a > self._due_ms[slots_a])
        actions: list[tuple[int, AlertAction]] = []
        for k in due.tolist():
            slot = int(slots_a[k])
            state, new = fall_tick(self.get(slot), int(now_a[k]), self.config)
            self.set(slot, state)
            actions.extend((k, action) for action in new)
        return actions

    def _grow(self, capacity: int) -> None:
        n = self._size
        self._next_ms = np.concatenate([self._next_ms[:n], np.full(capacity - n, np.nan)])
        self._gravity = np.concatenate([self._gravity[:n], np.zeros((capacity - n, 3))])
        self._simple = np.concatenate([self._simple[:n], np.zeros(capacity - n, dtype=bool)])
        self._low_g = np.concatenate([self._low_g[:n], np.zeros(capacity - n)])
        self._due_ms = np.concatenate(
            [self._due_ms[:n], np.full(capacity - n, _NO_DUE, dtype=np.int64)]
        )

    def _check(self, slot: int) -> None:
        if not 0 <= slot < self._size:
            raise IndexError(f"fall bank slot {slot} out of range 0..{self._size - 1}")

    def _check_many(self, slots: NDArray[np.intp]) -> None:
        if slots.size and not (slots.min() >= 0 and slots.max() < self._size):
            bad = int(slots[(slots < 0) | (slots >= self._size)][0])
            raise IndexError(f"fall bank slot {bad} out of range 0..{self._size - 1}")


def fall_step_bank(  # noqa: PLR0917 - the columns of a batch
    bank: FallBank,
    slot: ArrayLike,
    start_ms: ArrayLike,
    fs_hz: ArrayLike,
    offsets: ArrayLike,
    xyz_g: ArrayLike,
) -> list[tuple[int, AlertAction]]:
    """Fold a batch of accelerometer chunks of many users into the bank.

    Equal to ``fall_step`` on each user's chunks in arrival order (see the module
    docstring), with ``bank.config`` as the thresholds.

    Parameters
    ----------
    bank : FallBank
    slot : array_like of int, shape (m,)
        The bank slot of each chunk; chunks in arrival order.
    start_ms : array_like of int, shape (m,)
        Reading time of each chunk's first sample (epoch ms).
    fs_hz : array_like of float, shape (m,)
        Sampling rate of each chunk (``fall_min_fs_hz``..``fall_max_fs_hz``).
    offsets : array_like of int, shape (m + 1,)
        Chunk ``i`` is rows ``offsets[i]:offsets[i + 1]`` of ``xyz_g``; starts at 0,
        non-decreasing, ends at ``len(xyz_g)``.
    xyz_g : array_like of float, shape (total, 3)
        The samples (x, y, z in g), finite.

    Returns
    -------
    list of (int, AlertAction)
        ``(i, action)``: the action that ``fall_step`` on chunk ``i`` emits, in chunk
        order (a pending fall's ``open`` once its grace period has ended).

    Raises
    ------
    InvalidAccelChunk
        A rate out of range, a non-finite sample, or inconsistent shapes -- naming the
        chunk. The batch is checked before any state changes, so nothing is applied.
    """
    cfg = bank.config
    slots, start, fs, bounds, xyz = _checked_batch(bank, slot, start_ms, fs_hz, offsets, xyz_g)
    lengths = np.diff(bounds)
    chunks = np.flatnonzero(lengths > 0)  # an empty chunk changes nothing in fall_step
    if chunks.size == 0:
        return []
    if chunks.size < slots.size:
        slots, start, fs, lengths = slots[chunks], start[chunks], fs[chunks], lengths[chunks]
    else:
        chunks = np.arange(slots.size)
    first_row = bounds[:-1][chunks]

    # quiet chunks: smallest squared magnitude clearly above the slot's dip gate
    sumsq = np.einsum("ij,ij->i", xyz, xyz)
    if not np.isfinite(sumsq).all():
        _raise_non_finite(chunks, slots, start, first_row, xyz)
    low_g = bank._low_g[slots]
    quiet = np.minimum.reduceat(sumsq, first_row) >= low_g * low_g * (1.0 + QUIET_MARGIN)

    # reading times as fall_step computes them
    dt_ms = 1000.0 / fs
    first_ms = start.astype(np.float64)
    next_ms = first_ms + (lengths - 1).astype(np.float64) * dt_ms + dt_ms

    # group the chunks by slot, arrival order within a slot
    order = np.argsort(slots, kind="stable")
    s_o = slots[order]
    head = np.ones(s_o.size, dtype=bool)
    head[1:] = s_o[1:] != s_o[:-1]
    heads = np.flatnonzero(head)
    fs_o, first_o, dt_o = fs[order], first_ms[order], dt_ms[order]
    expected = np.empty(s_o.size)
    expected[1:] = next_ms[order][:-1]
    expected[heads] = bank._next_ms[s_o[heads]]
    known = ~np.isnan(expected)
    with np.errstate(invalid="ignore"):
        overlap = known & (first_o < expected - dt_o / 2.0)
        gap = known & (first_o - expected > cfg.fall_max_gap_s * 1000.0)
    rate_change = np.zeros(s_o.size, dtype=bool)
    rate_change[1:] = fs_o[1:] != fs_o[:-1]
    exact = ~quiet[order] | overlap | (gap & ~head) | (rate_change & ~head)
    group = np.cumsum(head) - 1
    slot_exact = (np.bincount(group, weights=exact, minlength=heads.size) > 0) | ~bank._simple[
        s_o[heads]
    ]
    vector = ~slot_exact[group]

    tail = np.append(heads[1:] - 1, s_o.size - 1)  # last chunk of each slot
    quiet_slots = ~slot_exact
    if quiet_slots.any():
        q_heads = heads[quiet_slots]
        targets = s_o[q_heads]
        bank._gravity[targets] = _quiet_gravity(
            bank,
            targets,
            fs_o[q_heads],
            gap[q_heads] | ~known[q_heads],  # after a gap, or no sample yet: start afresh
            first_row[order[vector]],
            lengths[order[vector]],
            head[vector],
            xyz,
        )
        bank._next_ms[targets] = next_ms[order[tail[quiet_slots]]]
    if not slot_exact.any():
        return []
    batch = (slots, start, fs, first_row, lengths)
    return _exact_fold(bank, order, heads, tail, slot_exact, chunks, batch, xyz)


def _quiet_gravity(  # noqa: PLR0917 - internal, the views fall_step_bank built
    bank: FallBank,
    targets: NDArray[np.intp],
    fs_hz: NDArray[np.float64],
    restart: NDArray[np.bool_],
    first_row: NDArray[np.intp],
    lengths: NDArray[np.intp],
    head: NDArray[np.bool_],
    xyz: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Gravity after the last sample of each quiet slot ``targets[j]`` (rate ``fs_hz[j]``,
    prior from the bank unless ``restart[j]``), given its chunks back to back
    (``first_row``/``lengths`` grouped by slot, ``head`` marking each slot's first):
    one filter call per (rate, samples) group of slots."""
    ends = np.cumsum(lengths)
    begins = ends - lengths
    total = int(ends[-1])
    # row of xyz of each sample of the joined stream (each slot's chunks back to back)
    stream = np.arange(total, dtype=np.intp) + np.repeat(first_row - begins, lengths)
    slot_begin = begins[head]
    slot_len = np.diff(np.append(slot_begin, total))
    out = np.empty((targets.size, 3))
    if np.all(fs_hz == fs_hz[0]) and np.all(slot_len == slot_len[0]):
        groups = [(float(fs_hz[0]), int(slot_len[0]), np.arange(targets.size))]
    else:
        groups = []
        for rate in np.unique(fs_hz).tolist():
            at_rate = fs_hz == rate
            for n in np.unique(slot_len[at_rate]).tolist():
                groups.append((rate, n, np.flatnonzero(at_rate & (slot_len == n))))
    for rate, n, members in groups:
        block = xyz[stream[slot_begin[members, None] + np.arange(n)]]  # (users, n, 3)
        prior = bank._gravity[targets[members]]
        fresh = restart[members]
        if fresh.any():
            prior[fresh] = block[fresh, 0, :]
        alpha = _alpha(rate, bank.config)
        zi = ((1.0 - alpha) * prior)[:, None, :]
        out[members] = _lowpass(alpha, block, zi)[:, -1, :]
    return out


def _exact_fold(  # noqa: PLR0917 - internal, the views fall_step_bank built
    bank: FallBank,
    order: NDArray[np.intp],
    heads: NDArray[np.intp],
    tail: NDArray[np.intp],
    slot_exact: NDArray[np.bool_],
    chunks: NDArray[np.intp],
    batch: tuple[
        NDArray[np.intp], NDArray[np.int64], NDArray[np.float64], NDArray[np.intp], NDArray[np.intp]
    ],
    xyz: NDArray[np.float64],
) -> list[tuple[int, AlertAction]]:
    """``fall_step`` chunk by chunk (via ``fall_step_chunks``) for the other slots;
    ``batch`` is (slot, start_ms, fs_hz, first row, length) of each non-empty chunk."""
    slots, start, fs, first_row, lengths = batch
    actions: list[tuple[int, AlertAction]] = []
    for g in np.flatnonzero(slot_exact).tolist():
        members = order[heads[g] : tail[g] + 1].tolist()
        run = []
        for c in members:
            part = xyz[first_row[c] : first_row[c] + lengths[c]]
            run.append(AccelChunk(int(start[c]), float(fs[c]), part[:, 0], part[:, 1], part[:, 2]))
        slot = int(slots[members[0]])
        state, new = fall_step_chunks(bank.get(slot), run, bank.config)
        bank.set(slot, state)
        actions.extend((int(chunks[members[i]]), action) for i, action in new)
    actions.sort(key=lambda item: item[0])
    return actions


def _checked_batch(  # noqa: PLR0917 - the columns of a batch
    bank: FallBank,
    slot: ArrayLike,
    start_ms: ArrayLike,
    fs_hz: ArrayLike,
    offsets: ArrayLike,
    xyz_g: ArrayLike,
) -> tuple[
    NDArray[np.intp], NDArray[np.int64], NDArray[np.float64], NDArray[np.intp], NDArray[np.float64]
]:
    """The batch as arrays of the expected types; shapes, slots and rates checked."""
    cfg = bank.config
    slots = np.asarray(slot, dtype=np.intp)
    start = np.asarray(start_ms, dtype=np.int64)
    fs = np.asarray(fs_hz, dtype=np.float64)
    bounds = np.asarray(offsets, dtype=np.intp)
    xyz = np.asarray(xyz_g, dtype=np.float64)
    m = slots.shape[0] if slots.ndim == 1 else -1
    if not (start.shape == fs.shape == (m,) and bounds.shape == (m + 1,)):
        raise InvalidAccelChunk(
            "accel batch: slot, start_ms and fs_hz must be 1-D of one length m and offsets "
            f"of length m + 1, got {slots.shape}, {start.shape}, {fs.shape}, {bounds.shape}"
        )
    if xyz.ndim != 2 or xyz.shape[1] != 3:
        raise InvalidAccelChunk(f"accel batch: xyz_g must have shape (total, 3), got {xyz.shape}")
    if bounds[0] != 0 or bounds[-1] != xyz.shape[0] or (np.diff(bounds) < 0).any():
        raise InvalidAccelChunk(
            f"accel batch: offsets must rise from 0 to len(xyz_g)={xyz.shape[0]}, "
            f"got {bounds[0]}..{bounds[-1]} (non-decreasing: {bool((np.diff(bounds) >= 0).all())})"
        )
    bank._check_many(slots)
    in_range = (fs >= cfg.fall_min_fs_hz) & (fs <= cfg.fall_max_fs_hz)
    if not in_range.all():
        i = int(np.flatnonzero(~in_range)[0])
        raise InvalidAccelChunk(
            f"accel chunk {i} (slot {slots[i]}) at start_ms={start[i]}: fs_hz={float(fs[i])!r} "
            f"outside {cfg.fall_min_fs_hz:g}-{cfg.fall_max_fs_hz:g} Hz"
        )
    return slots, start, fs, bounds, xyz


def _raise_non_finite(
    chunks: NDArray[np.intp],
    slots: NDArray[np.intp],
    start: NDArray[np.int64],
    first_row: NDArray[np.intp],
    xyz: NDArray[np.float64],
) -> None:
    """Name the first chunk and axis holding a non-finite sample (none: squares overflowed,
    which ``fall_step`` accepts as well)."""
    bad = ~np.isfinite(xyz)
    if not bad.any():
        return
    row, axis = (int(v) for v in np.argwhere(bad)[0])
    i = int(np.searchsorted(first_row, row, side="right")) - 1
    raise InvalidAccelChunk(
        f"accel chunk {chunks[i]} (slot {slots[i]}) at start_ms={start[i]}: "
        f"{'xyz'[axis]}_g holds a non-finite value {float(xyz[row, axis])!r}"
    )


def _alpha(fs_hz: float, cfg: DetectorConfig) -> float:
    """The low-pass coefficient exactly as ``fall_step`` computes it (``math.exp``)."""
    dt_ms = 1000.0 / fs_hz
    return 1.0 - math.exp(-dt_ms / (cfg.fall_gravity_tau_s * 1000.0))


def _lowpass(
    alpha: float, block: NDArray[np.float64], zi: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``lfilter([alpha], [1, alpha - 1])`` along axis 1, as ``fall_step`` calls it."""
    if _LINEAR_FILTER is not None:
        out: NDArray[np.float64] = _LINEAR_FILTER(
            np.array([alpha]), np.array([1.0, alpha - 1.0]), block, 1, zi
        )[0]
        return out
    gravity, _ = lfilter([alpha], [1.0, alpha - 1.0], block, axis=1, zi=zi)
    return np.asarray(gravity, dtype=np.float64)
