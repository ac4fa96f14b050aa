"""The fall detector of many users stepped at once: per-user state as arrays by slot.

:func:`fall_step_bank` folds a batch of accelerometer chunks of many users -- flat
arrays, as a columnar decoder produces them -- into a :class:`FallBank` and is *exactly*
:func:`~detectors.falls.fall_step` called for each user on each of its chunks in arrival
order: the same :class:`~detectors.falls.FallState` of every user to the bit (floats
compared with ``==``, the gravity estimate included) and the same actions.

Nearly every chunk of nearly every user is *quiet*: the detector is idle with no open
low-g run and no pending fall, and no sample is below the dip gate of the user's placement
(``fall_freefall_g`` at the trunk, ``fall_rule_dip_g`` elsewhere). For such a
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
(itself equal to ``fall_step`` per chunk) and written back. (A chunk whose dips all
expire inside it, which ``fall_step`` also fast-forwards, takes this exact path here.)

State layout (struct of arrays, indexed by slot): ``next_ms`` (NaN for none), the
gravity vector, a "simple" flag (idle, no open low run, no pending fall: a quiet chunk
changes nothing else), the dip gate of the slot's placement and the pending fall's due
time (for :meth:`FallBank.tick`); the rest of each slot's ``FallState`` is kept as the
object itself, whose ``next_ms`` and ``gravity_g`` the arrays override.

The engine's other calls on a user's fall state map to: ``fall_tick`` ->
:meth:`FallBank.tick` (vectorised filter, scalar ``fall_tick`` only where a pending fall
is due), ``fall_cancel`` -> :meth:`FallBank.cancel`, a placement change ->
:meth:`FallBank.set_placement`, checkpoints -> :meth:`FallBank.get` / :meth:`FallBank.set`.
A cancel or a placement change between a user's chunks splits the batch: step the chunks
that arrived before it, apply it, then step the rest (as the engine folds a user's run
before ``fall_cancel``). An invalid batch raises before any state changes.

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
from typing import NamedTuple

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


#: The candidate fields of an idle state (as ``_to_idle`` leaves them) and of no open
#: low run (as ``_after_gap`` leaves them).
_IDLE = _to_idle(FallState())
_IDLE_FIELDS = (
    "ref_g", "ref_ms", "freefall_ms", "deadline_ms", "impact_ms", "peak_g", "post_n",
    "post_sum_g", "post_sumsq_g2", "post_xyz_g", "dip_g", "next_start_ms", "next_end_ms",
    "next_ref_g", "next_dip_g", "low_ref_g", "low_min_g",
)  # fmt: skip
_IDLE_VALUES = tuple(getattr(_IDLE, name) for name in _IDLE_FIELDS)


def _is_simple(state: FallState) -> bool:
    """True when a quiet chunk changes nothing but ``next_ms`` and ``gravity_g`` -- also
    after a gap (``_after_gap`` would reset nothing else)."""
    return (
        state.phase == "idle"
        and state.low_start_ms is None
        and state.pending_onset_ms is None
        and state.pending_due_ms is None
        and tuple(getattr(state, name) for name in _IDLE_FIELDS) == _IDLE_VALUES
    )


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
        self._scratch = np.zeros(capacity, dtype=np.intp)
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
        fresh = _replace(
            self._states[slot],
            next_ms=None if math.isnan(next_ms) else next_ms,
            gravity_g=(float(g[0]), float(g[1]), float(g[2])),
        )
        # keep the fresh copy (the arrays still rule next_ms and gravity): a caller that
        # holds on to it, as the engine does in ``UserState.fall``, shares it with the bank
        # instead of doubling every user's fall state in memory
        self._states[slot] = fresh
        return fresh

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

    def _one_chunk_each(self, slots: NDArray[np.intp]) -> bool:
        """True when no slot appears twice (O(m), no array of the bank's size)."""
        where = np.arange(slots.size, dtype=np.intp)
        self._scratch[slots] = where  # a repeated slot keeps one of its positions
        return bool((self._scratch[slots] == where).all())

    def _grow(self, capacity: int) -> None:
        n = self._size
        self._next_ms = np.concatenate([self._next_ms[:n], np.full(capacity - n, np.nan)])
        self._gravity = np.concatenate([self._gravity[:n], np.zeros((capacity - n, 3))])
        self._simple = np.concatenate([self._simple[:n], np.zeros(capacity - n, dtype=bool)])
        self._low_g = np.concatenate([self._low_g[:n], np.zeros(capacity - n)])
        self._due_ms = np.concatenate(
            [self._due_ms[:n], np.full(capacity - n, _NO_DUE, dtype=np.int64)]
        )
        self._scratch = np.zeros(capacity, dtype=np.intp)

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
    slots, start, fs, bounds, xyz = _checked_batch(bank, slot, start_ms, fs_hz, offsets, xyz_g)
    lengths = np.diff(bounds)
    chunks = np.flatnonzero(lengths > 0)  # an empty chunk changes nothing in fall_step
    if chunks.size == 0:
        return []
    if chunks.size < slots.size:
        slots, start, fs, lengths = slots[chunks], start[chunks], fs[chunks], lengths[chunks]
    else:
        chunks = np.arange(slots.size)
    batch = _Batch(chunks, slots, start, fs, bounds[:-1][chunks], lengths, xyz)
    # quiet chunks: smallest squared magnitude clearly above the slot's dip gate
    sumsq = np.einsum("ij,ij->i", xyz, xyz)
    if not np.isfinite(sumsq).all():
        _raise_non_finite(batch)
    low_g = bank._low_g[slots]
    quiet = np.minimum.reduceat(sumsq, batch.first_row) >= low_g * low_g * (1.0 + QUIET_MARGIN)
    if bank._one_chunk_each(slots):
        return _step_one_per_slot(bank, batch, quiet)
    return _step_grouped(bank, batch, quiet)


class _Batch(NamedTuple):
    """The non-empty chunks of a batch: their index in the batch, slot, start, rate,
    first row and length; and all the samples."""

    chunks: NDArray[np.intp]
    slots: NDArray[np.intp]
    start_ms: NDArray[np.int64]
    fs_hz: NDArray[np.float64]
    first_row: NDArray[np.intp]
    lengths: NDArray[np.intp]
    xyz: NDArray[np.float64]

    def times(self) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """(first sample time, sample period, next expected time) of each chunk, with the
        float operations of ``fall_step`` (``start + arange(n) * dt``, last ``+ dt``)."""
        dt_ms = 1000.0 / self.fs_hz
        first_ms = self.start_ms.astype(np.float64)
        next_ms = first_ms + (self.lengths - 1).astype(np.float64) * dt_ms + dt_ms
        return first_ms, dt_ms, next_ms


def _step_one_per_slot(
    bank: FallBank, batch: _Batch, quiet: NDArray[np.bool_]
) -> list[tuple[int, AlertAction]]:
    """The common batch: one chunk per slot."""
    first_ms, dt_ms, next_ms = batch.times()
    expected = bank._next_ms[batch.slots]
    known = ~np.isnan(expected)
    with np.errstate(invalid="ignore"):
        overlap = known & (first_ms < expected - dt_ms / 2.0)
        restart = ~known | (first_ms - expected > bank.config.fall_max_gap_s * 1000.0)
    exact = ~quiet | overlap | ~bank._simple[batch.slots]
    picked = np.flatnonzero(~exact)
    if picked.size:
        targets = batch.slots[picked]
        bank._gravity[targets] = _quiet_gravity_single(bank, batch, picked, restart)
        bank._next_ms[targets] = next_ms[picked]
    if not exact.any():
        return []
    each = np.arange(batch.slots.size)
    return _exact_fold(bank, batch, each, each, each, exact)


def _step_grouped(
    bank: FallBank, batch: _Batch, quiet: NDArray[np.bool_]
) -> list[tuple[int, AlertAction]]:
    """Any batch: the chunks grouped by slot, arrival order within a slot."""
    first_ms, dt_ms, next_ms = batch.times()
    order = np.argsort(batch.slots, kind="stable")
    s_o = batch.slots[order]
    head = np.ones(s_o.size, dtype=bool)
    head[1:] = s_o[1:] != s_o[:-1]
    heads = np.flatnonzero(head)
    fs_o, first_o, dt_o = batch.fs_hz[order], first_ms[order], dt_ms[order]
    expected = np.empty(s_o.size)
    expected[1:] = next_ms[order][:-1]
    expected[heads] = bank._next_ms[s_o[heads]]
    known = ~np.isnan(expected)
    with np.errstate(invalid="ignore"):
        overlap = known & (first_o < expected - dt_o / 2.0)
        gap = known & (first_o - expected > bank.config.fall_max_gap_s * 1000.0)
    rate_change = np.zeros(s_o.size, dtype=bool)
    rate_change[1:] = fs_o[1:] != fs_o[:-1]
    exact = ~quiet[order] | overlap | (gap & ~head) | (rate_change & ~head)
    group = np.cumsum(head) - 1
    slot_exact = np.bincount(group, weights=exact, minlength=heads.size) > 0
    slot_exact |= ~bank._simple[s_o[heads]]
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
            batch.first_row[order[vector]],
            batch.lengths[order[vector]],
            head[vector],
            batch.xyz,
        )
        bank._next_ms[targets] = next_ms[order[tail[quiet_slots]]]
    if not slot_exact.any():
        return []
    return _exact_fold(bank, batch, order, heads, tail, slot_exact)


def _quiet_gravity_single(
    bank: FallBank, batch: _Batch, picked: NDArray[np.intp], restart: NDArray[np.bool_]
) -> NDArray[np.float64]:
    """Gravity after chunk ``picked[j]``, each of another slot, from the slot's gravity
    (from the chunk's first sample where ``restart``): the chunks' own rows are the
    block when every chunk of the batch has one length (no copy when all are picked),
    else :func:`_quiet_gravity` on them."""
    targets = batch.slots[picked]
    rates, fresh = batch.fs_hz[picked], restart[picked]
    n = int(batch.lengths[0])
    if not (batch.lengths == n).all():
        head = np.ones(picked.size, dtype=bool)
        rows, lengths = batch.first_row[picked], batch.lengths[picked]
        return _quiet_gravity(bank, targets, rates, fresh, rows, lengths, head, batch.xyz)
    chunks3 = batch.xyz.reshape(-1, n, 3)
    out = np.empty((picked.size, 3))
    if (rates == rates[0]).all():
        groups = [(float(rates[0]), np.arange(picked.size))]
    else:
        groups = [(rate, np.flatnonzero(rates == rate)) for rate in np.unique(rates).tolist()]
    for rate, members in groups:
        whole = members.size == chunks3.shape[0]  # every chunk of the batch, in order
        block = chunks3 if whole else chunks3[picked[members]]
        out[members] = _last_gravity(bank, rate, block, targets[members], fresh[members])
    return out


def _last_gravity(
    bank: FallBank,
    rate: float,
    block: NDArray[np.float64],
    targets: NDArray[np.intp],
    fresh: NDArray[np.bool_],
) -> NDArray[np.float64]:
    """The low-pass over each row of ``block`` (users x samples x 3) from slot
    ``targets[j]``'s gravity (from the row's first sample where ``fresh[j]``): its
    value after the last sample."""
    prior = bank._gravity[targets]
    if fresh.any():
        prior[fresh] = block[fresh, 0, :]
    alpha = _alpha(rate, bank.config)
    zi = ((1.0 - alpha) * prior)[:, None, :]
    last: NDArray[np.float64] = _lowpass(alpha, block, zi)[:, -1, :]
    return last


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
        out[members] = _last_gravity(bank, rate, block, targets[members], restart[members])
    return out


def _exact_fold(  # noqa: PLR0917 - internal, the views fall_step_bank built
    bank: FallBank,
    batch: _Batch,
    order: NDArray[np.intp],
    heads: NDArray[np.intp],
    tail: NDArray[np.intp],
    slot_exact: NDArray[np.bool_],
) -> list[tuple[int, AlertAction]]:
    """``fall_step`` chunk by chunk (via ``fall_step_chunks``) for the slots flagged in
    ``slot_exact``: slot ``g``'s chunks are ``order[heads[g] : tail[g] + 1]``."""
    slots, start, fs, first_row, lengths, xyz = batch[1:]
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
        actions.extend((int(batch.chunks[members[i]]), action) for i, action in new)
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


def _raise_non_finite(batch: _Batch) -> None:
    """Name the first chunk and axis holding a non-finite sample (none: squares overflowed,
    which ``fall_step`` accepts as well)."""
    bad = ~np.isfinite(batch.xyz)
    if not bad.any():
        return
    row, axis = (int(v) for v in np.argwhere(bad)[0])
    i = int(np.searchsorted(batch.first_row, row, side="right")) - 1
    raise InvalidAccelChunk(
        f"accel chunk {batch.chunks[i]} (slot {batch.slots[i]}) at start_ms={batch.start_ms[i]}: "
        f"{'xyz'[axis]}_g holds a non-finite value {float(batch.xyz[row, axis])!r}"
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
