"""``fall_step_bank`` (many users' chunks as flat arrays) equals ``fall_step`` per user
per chunk in arrival order: every user's ``FallState`` to the bit, the same actions at
the same chunks -- for quiet users (the array path) and everything that must take the
exact one (falls, dips, pending falls, cancels, gaps, overlaps, rate and placement
changes), on synthetic streams and on real SisFall trials interleaved as users."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import detectors.fall_bank as fall_bank
import detectors.falls as falls
from detectors.errors import InvalidAccelChunk
from detectors.fall_bank import FallBank, fall_step_bank
from detectors.falls import FallState, fall_cancel, fall_step, fall_tick
from detectors.rules import AlertAction
from simulators.accel_model import (
    SITTING,
    STANDING,
    WALKING,
    fall_like_template,
    fall_template,
    render_activity,
)
from simulators.sisfall import read_trial
from tests.detectors.accel_signals import ACTIVITIES, T0_MS, make_activity

SISFALL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "sisfall-dev"
needs_data = pytest.mark.skipif(
    not SISFALL.is_dir(), reason=f"SisFall development set not found at {SISFALL}"
)


@dataclass(frozen=True)
class Chunk:
    user: int
    start_ms: int
    fs_hz: float
    xyz: np.ndarray  # (n, 3)


@dataclass(frozen=True)
class Event:
    """A cancel or a placement change of one user, between chunks."""

    user: int
    cancel_ms: int | None = None
    placement: str | None = None


Item = Chunk | Event


@dataclass
class Scalar:
    """The reference: ``fall_step`` per chunk, as the engine did before batching."""

    states: dict[int, FallState] = field(default_factory=dict)

    def batch(self, items: list[Item], now_ms: dict[int, int]) -> list[tuple[int, AlertAction]]:
        out: list[tuple[int, AlertAction]] = []
        for i, item in enumerate(items):
            state = self.states[item.user]
            if isinstance(item, Chunk):
                x, y, z = item.xyz[:, 0], item.xyz[:, 1], item.xyz[:, 2]
                state, new = fall_step(state, item.start_ms, item.fs_hz, x, y, z)
                out.extend((i, action) for action in new)
            elif item.cancel_ms is not None:
                state = fall_cancel(state, item.cancel_ms)
            else:
                assert item.placement is not None
                state = replace(state, placement=item.placement)
            self.states[item.user] = state
        for user in sorted(now_ms):
            self.states[user], new = fall_tick(self.states[user], now_ms[user])
            out.extend((-1 - user, action) for action in new)
        return out


@dataclass
class Banked:
    """The same through a bank: runs of chunks as one call, events between them."""

    bank: FallBank
    slots: dict[int, int]

    def batch(self, items: list[Item], now_ms: dict[int, int]) -> list[tuple[int, AlertAction]]:
        out: list[tuple[int, AlertAction]] = []
        run: list[int] = []
        for i, item in enumerate([*items, None]):
            if isinstance(item, Chunk):
                run.append(i)
                continue
            if run:
                out.extend(self._step([items[k] for k in run], run))  # type: ignore[misc]
                run = []
            if isinstance(item, Event):
                slot = self.slots[item.user]
                if item.cancel_ms is not None:
                    self.bank.cancel(slot, item.cancel_ms)
                else:
                    assert item.placement is not None
                    self.bank.set_placement(slot, item.placement)
        users = sorted(now_ms)
        ticked = self.bank.tick([self.slots[u] for u in users], [now_ms[u] for u in users])
        out.extend((-1 - users[k], action) for k, action in ticked)
        return out

    def _step(self, chunks: list[Chunk], where: list[int]) -> list[tuple[int, AlertAction]]:
        lengths = [c.xyz.shape[0] for c in chunks]
        actions = fall_step_bank(
            self.bank,
            np.array([self.slots[c.user] for c in chunks]),
            np.array([c.start_ms for c in chunks], dtype=np.int64),
            np.array([c.fs_hz for c in chunks]),
            np.concatenate(([0], np.cumsum(lengths))),
            np.concatenate([c.xyz for c in chunks]) if chunks else np.empty((0, 3)),
        )
        return [(where[i], action) for i, action in actions]


def assert_same(batches: list[list[Item]], placements: dict[int, str]) -> list[AlertAction]:
    """Run both paths over the batches; states compared after every batch."""
    scalar = Scalar({u: FallState(placement=p) for u, p in placements.items()})
    bank = FallBank(capacity=2)  # grows
    slots = {u: bank.add(FallState(placement=p)) for u, p in sorted(placements.items())}
    banked = Banked(bank, slots)
    found: list[AlertAction] = []
    seen: dict[int, int] = {}
    for items in batches:
        for item in items:
            if isinstance(item, Chunk):
                end = item.start_ms + round(item.xyz.shape[0] * 1000 / item.fs_hz)
                seen[item.user] = max(seen.get(item.user, 0), end)
        expected = scalar.batch(items, dict(seen))
        got = banked.batch(items, dict(seen))
        assert got == expected
        for user, slot in slots.items():
            assert bank.get(slot) == scalar.states[user], f"user {user}"
            assert bank.get(slot).gravity_g == scalar.states[user].gravity_g
        found += [action for _, action in expected]
    return found


# --- synthetic users ------------------------------------------------------------------------

SIM_KINDS = ("sim_still", "sim_walk", "sim_fall", "sim_sit_hard", "sim_jump")


def sim_trace(kind: str, fs_hz: int, seed: int, seconds: int = 20) -> np.ndarray:
    """(n, 3) of the simulator's accelerometer model: still/walking, or a fall / a hard
    sit / jumps embedded in standing."""
    rng = np.random.default_rng(seed)
    code = {"sim_still": SITTING, "sim_walk": WALKING}.get(kind, STANDING)
    base = render_activity(rng, np.full((1, seconds), code), fs_hz, 0.0, rng.uniform(0, 6, 1))
    xyz = base[:, 0, :]
    if kind in {"sim_fall", "sim_sit_hard", "sim_jump"}:
        if kind == "sim_fall":
            direction = ("forward", "backward", "lateral")[seed % 3]
            event, _, _ = fall_template(rng, fs_hz, direction, from_chair=seed % 2 == 1)
        else:
            event, _ = fall_like_template(
                rng, fs_hz, "sit_hard" if kind == "sim_sit_hard" else "jump"
            )
        at = 5 * fs_hz
        n = min(event.shape[1], xyz.shape[1] - at)
        xyz = xyz.copy()
        xyz[:, at : at + n] = event[:, :n]
        xyz[:, at + n :] = event[:, n - 1 : n]  # then still in the final posture
    return np.ascontiguousarray(xyz.T)


def user_samples(kind: str, fs_hz: int, seed: int) -> np.ndarray:
    if kind in SIM_KINDS:
        return sim_trace(kind, fs_hz, seed)
    trace = make_activity(kind, float(fs_hz), seed, duration_s=20.0)
    return np.column_stack((trace.x_g, trace.y_g, trace.z_g))


@st.composite
def user_streams(draw: st.DrawFn) -> tuple[list[list[Item]], dict[int, str]]:
    """Several users' chunk streams with gaps, redeliveries, rate changes, cancels and
    placement changes, interleaved at random into batches."""
    n_users = draw(st.integers(1, 5))
    placements: dict[int, str] = {}
    streams: list[list[Item]] = []
    for user in range(n_users):
        placements[user] = draw(st.sampled_from(["", "wrist", "waist"]))
        kind = draw(st.sampled_from(SIM_KINDS + ACTIVITIES))
        fs = draw(st.sampled_from([25, 50, 100, 200]))
        seed = draw(st.integers(0, 10_000))
        samples = user_samples(kind, fs, seed)
        per = max(1, round(draw(st.sampled_from([0.2, 0.5, 1.0, 1.0, 1.0, 2.0])) * fs))
        t_ms = T0_MS + draw(st.integers(0, 3000))
        stream: list[Item] = []
        for lo in range(0, samples.shape[0], per):
            part = samples[lo : lo + per]
            twist = draw(
                st.sampled_from(
                    ["plain"] * 12
                    + ["gap", "redeliver", "rate", "cancel", "placement", "small_gap", "empty"]
                )
            )
            rate = float(fs)
            if twist == "gap":
                t_ms += draw(st.integers(600, 5000))
            elif twist == "small_gap":
                t_ms += draw(st.integers(1, 450))
            elif twist == "rate":  # the same samples declared at another rate
                rate = float(draw(st.sampled_from([25, 50, 100, 200])))
            elif twist == "cancel":
                stream.append(Event(user, cancel_ms=t_ms - draw(st.integers(-2000, 40_000))))
            elif twist == "placement":
                stream.append(Event(user, placement=draw(st.sampled_from(["", "wrist", "waist"]))))
            elif twist == "empty":
                stream.append(Chunk(user, t_ms, rate, np.empty((0, 3))))
            chunk = Chunk(user, t_ms, rate, part)
            stream.append(chunk)
            if twist == "redeliver":  # the same chunk again, or its second half
                half = part[part.shape[0] // 2 :]
                again = draw(st.booleans())
                shift = round((part.shape[0] - half.shape[0]) * 1000 / rate)
                stream.append(chunk if again else Chunk(user, t_ms + shift, rate, half))
            t_ms += round(part.shape[0] * 1000 / rate)
        streams.append(stream)
    # interleave: keep each user's order, random merge, cut into batches
    merged: list[Item] = []
    heads = [0] * n_users
    while any(h < len(s) for h, s in zip(heads, streams, strict=True)):
        live = [u for u in range(n_users) if heads[u] < len(streams[u])]
        u = live[draw(st.integers(0, len(live) - 1))] if len(live) > 1 else live[0]
        take = draw(st.integers(1, 4))
        merged += streams[u][heads[u] : heads[u] + take]
        heads[u] += take
    batches: list[list[Item]] = []
    cuts = draw(st.lists(st.integers(1, 60), min_size=1, max_size=30))
    pos = 0
    for size in [*cuts, len(merged)]:
        if pos >= len(merged):
            break
        batches.append(merged[pos : pos + size])
        pos += size
    return batches, placements


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(user_streams())
def test_the_bank_equals_fall_step_per_user_per_chunk(
    case: tuple[list[list[Item]], dict[int, str]],
) -> None:
    batches, placements = case
    assert_same(batches, placements)


def chunked(
    user: int, xyz: np.ndarray, fs_hz: float, start_ms: int, chunk_s: float = 1.0
) -> list[Item]:
    per = max(1, round(chunk_s * fs_hz))
    return [
        Chunk(user, start_ms + round(lo * 1000 / fs_hz), fs_hz, xyz[lo : lo + per])
        for lo in range(0, xyz.shape[0], per)
    ]


def test_falls_of_many_users_alert_at_the_same_chunks_and_quiet_users_take_the_array_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    streams = [chunked(u, sim_trace("sim_fall", 25, u), 25.0, T0_MS) for u in range(6)]
    streams += [chunked(6 + u, sim_trace("sim_still", 25, u, 60), 25.0, T0_MS) for u in range(20)]
    tail = [
        chunked(u, sim_trace("sim_still", 25, 100 + u, 40), 25.0, T0_MS + 20_000) for u in range(6)
    ]
    streams = [s + t for s, t in zip(streams, tail, strict=False)] + streams[6:]
    batches = round_robin(streams, 26)
    exact_placements: list[str] = []
    real_fold = falls.fall_step_chunks

    def counting(state: FallState, run: list[object], config: object) -> object:
        exact_placements.append(state.placement)
        return real_fold(state, run, config)  # type: ignore[arg-type]

    monkeypatch.setattr(fall_bank, "fall_step_chunks", counting)
    # the fallers at the wrist, the still users at the waist: tells the paths apart
    placements = {u: "wrist" if u < 6 else "waist" for u in range(26)}
    found = assert_same(batches, placements)
    assert [a.alert_type for a in found].count("fall_detected") >= 1
    assert "wrist" in exact_placements  # the falls took the exact path
    assert "waist" not in exact_placements  # the still users never left the array path


def round_robin(streams: list[list[Item]], per_batch: int) -> list[list[Item]]:
    merged: list[Item] = []
    for i in range(max(len(s) for s in streams)):
        merged += [s[i] for s in streams if i < len(s)]
    return [merged[i : i + per_batch] for i in range(0, len(merged), per_batch)]


def test_a_users_gravity_does_not_depend_on_who_shares_its_batch() -> None:
    """The quiet path's filter groups rows of equal length: checks that a user's gravity
    does not depend on which other users share its batch (alone, or among 500)."""
    rng = np.random.default_rng(7)
    base = np.array([0.1, -0.2, 0.97])
    reference = FallState()
    alone = FallBank()
    crowd = FallBank()
    a = alone.add()
    slots = [crowd.add() for _ in range(500)]
    for second in range(5):
        xyz = base + 0.05 * rng.standard_normal((500 * 25, 3))
        start = np.full(500, T0_MS + 1000 * second, dtype=np.int64)
        offsets = np.arange(0, 500 * 25 + 1, 25)
        fall_step_bank(crowd, np.array(slots), start, np.full(500, 25.0), offsets, xyz)
        fall_step_bank(alone, np.array([a]), start[:1], np.array([25.0]), offsets[:2], xyz[:25])
        reference, _ = fall_step(reference, T0_MS + 1000 * second, 25.0, *xyz[:25].T)
    assert alone.get(a) == crowd.get(slots[0]) == reference


def test_an_invalid_batch_raises_naming_the_chunk_and_changes_nothing() -> None:
    bank = FallBank()
    slots = np.array([bank.add(), bank.add()])
    xyz = np.tile([0.0, 0.0, 1.0], (50, 1))
    offsets = np.array([0, 25, 50])
    start = np.array([T0_MS, T0_MS])
    bad = xyz.copy()
    bad[30, 1] = np.nan
    with pytest.raises(
        InvalidAccelChunk, match=r"accel chunk 1 \(slot 1\).*y_g holds a non-finite"
    ):
        fall_step_bank(bank, slots, start, np.array([25.0, 25.0]), offsets, bad)
    with pytest.raises(InvalidAccelChunk, match=r"accel chunk 0 .*fs_hz=10.0 outside 25-200 Hz"):
        fall_step_bank(bank, slots, start, np.array([10.0, 25.0]), offsets, xyz)
    with pytest.raises(InvalidAccelChunk, match="offsets must rise"):
        fall_step_bank(bank, slots, start, np.array([25.0, 25.0]), np.array([0, 25, 49]), xyz)
    with pytest.raises(IndexError, match="slot 7 out of range"):
        fall_step_bank(bank, np.array([0, 7]), start, np.array([25.0, 25.0]), offsets, xyz)
    assert bank.get(0) == bank.get(1) == FallState()


def test_get_set_round_trips_any_state_and_tick_opens_only_due_falls() -> None:
    bank = FallBank(capacity=1)
    pending = FallState(
        next_ms=1_000.5,
        placement="waist",
        gravity_g=(0.1, -0.0, 0.3),
        pending_onset_ms=10,
        pending_due_ms=30_010,
        pending_peak_g=3.2,
        blocked_until_ms=30_010.0,
    )
    slots = [bank.add(), bank.add(pending), bank.add(FallState(phase="impact", ref_ms=3.0))]
    assert [bank.get(s) for s in slots] == [
        FallState(),
        pending,
        FallState(phase="impact", ref_ms=3.0),
    ]
    assert bank.tick(slots, 30_010) == []
    ticked = bank.tick(slots, [0, 30_011, 99_999])
    expected_state, expected = fall_tick(pending, 30_011)
    assert ticked == [(1, expected[0])] and bank.get(slots[1]) == expected_state


# --- real recordings --------------------------------------------------------------------------


@needs_data
def test_real_sisfall_trials_as_concurrent_users() -> None:
    """Falls and activities of three subjects, 200 Hz at the waist, fed as concurrent
    users in 1 s chunks with the engine's batching; a wrist placement for some."""
    names = [
        "F01_SA01_R01", "F05_SA01_R01", "D01_SA01_R01", "D07_SA01_R01",
        "F08_SA02_R01", "D04_SA02_R01", "F12_SA02_R01",
        "F03_SE06_R01", "D10_SE06_R01", "D17_SE06_R01",
    ]  # fmt: skip
    trials = [read_trial(SISFALL / n.split("_")[1] / f"{n}.csv.gz").xyz_g for n in names]
    streams: list[list[Item]] = []
    for user, xyz in enumerate(trials):
        # each user: its trial, then 10 s later (a gap) the next user's trial
        later = trials[(user + 1) % len(trials)]
        start = T0_MS + 137 * user
        resume = start + round(xyz.shape[0] * 5.0) + 10_000
        streams.append(chunked(user, xyz, 200.0, start) + chunked(user, later, 200.0, resume))
    placements = {u: ("waist" if u % 3 else "wrist") for u in range(len(names))}
    batches = round_robin(streams, 7)
    found = assert_same(batches, placements)
    assert any(a.alert_type == "fall_detected" for a in found)
