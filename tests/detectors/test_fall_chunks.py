"""``fall_step_chunks`` (a run of chunks at once, as the engine batches them) equals
``fall_step`` folded over the same chunks: same state to the bit, same actions, same
errors -- for quiet runs (the fast path) and for everything that must take the slow one."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import detectors.falls as falls
from detectors.errors import InvalidAccelChunk
from detectors.falls import AccelChunk, FallState, fall_step, fall_step_chunks
from tests.detectors.accel_signals import ACTIVITIES, chunks, make_activity


def fold_one_by_one(state: FallState, run: list[AccelChunk]) -> tuple[FallState, list[object]]:
    actions: list[object] = []
    for i, chunk in enumerate(run):
        state, new = fall_step(state, *chunk)
        actions.extend((i, action) for action in new)
    return state, actions


def trace_chunks(kind: str, fs_hz: float, seed: int, chunk_s: float) -> list[AccelChunk]:
    trace = make_activity(kind, fs_hz, seed, duration_s=70.0)
    return [AccelChunk(t, fs_hz, x, y, z) for t, x, y, z in chunks(trace, chunk_s)]


@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from(ACTIVITIES),
    fs_hz=st.sampled_from([25.0, 50.0, 100.0, 200.0]),
    seed=st.integers(0, 1000),
    chunk_s=st.sampled_from([0.5, 1.0, 2.0]),
    run_lengths=st.lists(st.integers(1, 12), min_size=1, max_size=40),
)
def test_runs_equal_the_chunk_by_chunk_fold(
    kind: str, fs_hz: float, seed: int, chunk_s: float, run_lengths: list[int]
) -> None:
    all_chunks = trace_chunks(kind, fs_hz, seed, chunk_s)
    one_by_one, batched = FallState(), FallState()
    actions_one: list[object] = []
    actions_batched: list[object] = []
    start = 0
    for length in [*run_lengths, len(all_chunks)]:
        run = all_chunks[start : start + length]
        start += length
        if not run:
            break
        one_by_one, new = fold_one_by_one(one_by_one, run)
        actions_one.extend(new)
        batched, new = fall_step_chunks(batched, run)
        actions_batched.extend(new)
        assert batched == one_by_one  # every field, floats to the bit
    assert actions_batched == actions_one


def test_gaps_overlaps_and_rate_changes_inside_a_run_take_the_exact_path() -> None:
    quiet = trace_chunks("walk", 50.0, 3, 1.0)[:8]
    gap = [*quiet[:3], quiet[3]._replace(start_ms=quiet[3].start_ms + 5_000), *quiet[4:]]
    overlap = [*quiet[:3], quiet[3]._replace(start_ms=quiet[3].start_ms - 500), *quiet[4:]]
    rate = [*quiet[:3], quiet[3]._replace(fs_hz=25.0), *quiet[4:]]
    lists = [c._replace(x_g=list(c.x_g)) for c in quiet]  # not arrays: checked one by one
    for run in (quiet, gap, overlap, rate, lists):
        for start in (FallState(), fold_one_by_one(FallState(), quiet[:2])[0]):
            assert fall_step_chunks(start, run) == fold_one_by_one(start, run)


def test_an_invalid_chunk_raises_as_it_would_alone() -> None:
    run = trace_chunks("walk", 25.0, 1, 1.0)[:4]
    bad = run[2]._replace(y_g=np.where(np.arange(run[2].y_g.size) == 3, np.nan, run[2].y_g))
    with pytest.raises(InvalidAccelChunk, match="y_g holds a non-finite value"):
        fall_step_chunks(FallState(), [*run[:2], bad, run[3]])


def test_the_fast_path_is_taken_for_a_quiet_run(monkeypatch: pytest.MonkeyPatch) -> None:
    run = trace_chunks("lie_down", 25.0, 2, 1.0)[10:20]  # lying still: no dip below 0.9 g
    expected = fold_one_by_one(FallState(), run)
    calls = 0

    def counting(*args: object) -> object:
        nonlocal calls
        calls += 1
        return fall_step(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(falls, "fall_step", counting)
    assert falls.fall_step_chunks(FallState(), run) == expected
    assert calls == 0  # one filter over the joined samples, no per-chunk fold


def test_a_fall_inside_runs_gives_the_same_alert_at_the_same_chunk() -> None:
    all_chunks = trace_chunks("fall_forward", 50.0, 4, 1.0)
    runs = [all_chunks[i : i + 7] for i in range(0, len(all_chunks), 7)]
    one_by_one, batched = FallState(), FallState()
    found = []
    for run in runs:
        one_by_one, expected = fold_one_by_one(one_by_one, run)
        batched, actions = fall_step_chunks(batched, run)
        assert actions == expected and batched == one_by_one
        found += actions
    assert [action.alert_type for _, action in found] == ["fall_detected"]
