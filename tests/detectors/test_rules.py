"""Alert rules: sustain, severity, at-rest gating, 5-of-6 rhythm, lifecycle, determinism."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import replace

import numpy as np
import pytest

from detectors import serialize
from detectors.config import DEFAULT
from detectors.errors import DetectorError, InvalidVerdict
from detectors.rules import AlertAction, RuleState, WindowVerdict, rules_step, sos_action
from detectors.windows import WindowBatch, analyze_windows

T0_MS = 1_763_900_040_000  # a whole minute of reading time
WIN_MS = 60_000


def verdict(
    i: int,
    hr: float | None = 70.0,
    *,
    at_rest: bool | None = True,
    irregular: bool | None = False,
    stress: int | None = None,
) -> WindowVerdict:
    """The i-th 60 s window after T0."""
    return WindowVerdict(
        end_ms=T0_MS + WIN_MS * (i + 1),
        heart_rate_bpm=hr,
        stress_level=stress,
        irregular=irregular,
        at_rest=at_rest,
    )


def run(
    verdicts: Iterable[WindowVerdict], state: RuleState | None = None
) -> tuple[RuleState, list[tuple[int, AlertAction]]]:
    """Fold verdicts; return the final state and (window index, action) pairs."""
    state = RuleState() if state is None else state
    out: list[tuple[int, AlertAction]] = []
    for k, v in enumerate(verdicts):
        state, actions = rules_step(state, v)
        out.extend((k, a) for a in actions)
    return state, out


def hr_series(hrs: Sequence[float | None], **kw: object) -> list[WindowVerdict]:
    return [verdict(i, hr, **kw) for i, hr in enumerate(hrs)]  # type: ignore[arg-type]


def kinds(out: list[tuple[int, AlertAction]]) -> list[tuple[int, str, str, str]]:
    return [(k, a.action, a.alert_type, a.severity) for k, a in out]


# --- heart-rate limits -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hr", "alert_type", "severity"),
    [
        (121.0, "high_heart_rate", "high"),
        (150.0, "high_heart_rate", "high"),
        (151.0, "high_heart_rate", "critical"),
        (39.0, "low_heart_rate", "high"),
        (30.0, "low_heart_rate", "high"),
        (29.0, "low_heart_rate", "critical"),
    ],
)
def test_hr_limit_opens_after_exactly_ten_minutes(
    hr: float, alert_type: str, severity: str
) -> None:
    _, out = run(hr_series([hr] * 12))
    assert kinds(out) == [(9, "open", alert_type, severity)]  # window 10 = 10 min
    action = out[0][1]
    assert action.onset_ms == T0_MS  # the start of the first window in the run
    assert action.at_ms == T0_MS + 10 * WIN_MS
    assert action.heart_rate_bpm == round(hr)
    assert f"{round(hr)} bpm" in action.message and "10 min" in action.message


@pytest.mark.parametrize("hr", [120.0, 40.0, 70.0, 100.0, 45.0])
def test_hr_at_or_inside_limits_never_alerts(hr: float) -> None:
    _, out = run(hr_series([hr] * 30))
    assert out == []


def test_nine_minutes_is_not_enough() -> None:
    _, out = run(hr_series([130.0] * 9 + [80.0] + [130.0] * 9))
    assert out == []


def test_severity_escalates_by_update_and_never_deescalates_while_open() -> None:
    hrs = [130.0] * 10 + [155.0] + [130.0] * 5
    _, out = run(hr_series(hrs))
    assert kinds(out) == [
        (9, "open", "high_heart_rate", "high"),
        (10, "update", "high_heart_rate", "critical"),
        (15, "update", "high_heart_rate", "critical"),  # 5 min later, still critical
    ]
    assert {a.onset_ms for _, a in out} == {T0_MS}
    assert out[1][1].heart_rate_bpm == 155 and out[2][1].heart_rate_bpm == 130


def test_brady_escalates_to_critical() -> None:
    _, out = run(hr_series([38.0] * 10 + [28.0]))
    assert kinds(out) == [
        (9, "open", "low_heart_rate", "high"),
        (10, "update", "low_heart_rate", "critical"),
    ]


@pytest.mark.parametrize("at_rest", [False, None])
def test_tachycardia_while_exercising_or_unknown_activity_does_not_alert(
    at_rest: bool | None,
) -> None:
    _, out = run(hr_series([165.0] * 40, at_rest=at_rest))
    assert out == []


def test_a_bout_of_exercise_restarts_the_at_rest_run() -> None:
    vs = hr_series([130.0] * 15)
    vs[6] = replace(vs[6], at_rest=False)
    _, out = run(vs)
    assert out == []  # 6 + 8 windows at rest, never 10 in a row
    _, out = run([*vs, verdict(15, 130.0), verdict(16, 130.0)])
    assert kinds(out) == [(16, "open", "high_heart_rate", "high")]
    assert out[0][1].onset_ms == vs[7].end_ms - WIN_MS


def test_bradycardia_does_not_need_rest() -> None:
    _, out = run(hr_series([35.0] * 10, at_rest=False))
    assert kinds(out) == [(9, "open", "low_heart_rate", "high")]


# --- gaps and missing data ----------------------------------------------------------------


def test_gap_in_data_does_not_count_as_sustained() -> None:
    vs = [verdict(i, 130.0) for i in [*range(5), *range(7, 12)]]  # windows 5, 6 missing
    _, out = run(vs)
    assert out == []


def test_window_without_heart_rate_breaks_the_run() -> None:
    hrs: list[float | None] = [130.0] * 5 + [None] + [130.0] * 5
    _, out = run(hr_series(hrs))
    assert out == []
    nan_hrs = [130.0] * 5 + [float("nan")] + [130.0] * 5
    _, out = run(hr_series(nan_hrs))
    assert out == []


def test_small_jitter_in_window_ends_is_not_a_gap() -> None:
    vs = [replace(verdict(i, 130.0), end_ms=verdict(i).end_ms + (i % 3) * 1000) for i in range(10)]
    _, out = run(vs)
    assert [a.action for _, a in out] == ["open"]


def test_stale_or_duplicate_verdicts_are_ignored() -> None:
    vs = hr_series([130.0] * 10)
    state, out = run(vs)
    assert len(out) == 1
    again, actions = rules_step(state, vs[-1])
    assert again == state and actions == []
    again, actions = rules_step(state, vs[3])
    assert again == state and actions == []


# --- one open alert, updates, clear, cooldown ------------------------------------------------


def test_one_open_alert_with_periodic_updates() -> None:
    _, out = run(hr_series([130.0] * 40))
    opens = [a for _, a in out if a.action == "open"]
    updates = [k for k, a in out if a.action == "update"]
    assert len(opens) == 1
    assert updates == [14, 19, 24, 29, 34, 39]  # every 5 min after the open at window 9
    assert {a.onset_ms for _, a in out} == {opens[0].onset_ms}


def test_clear_after_ten_minutes_absent_then_cooldown() -> None:
    hrs = [130.0] * 10 + [80.0] * 9
    state, out = run(hr_series(hrs))
    assert kinds(out) == [(9, "open", "high_heart_rate", "high")]  # 9 min normal: still open
    state, out = run([verdict(19, 80.0)], state)
    assert kinds(out) == [(0, "clear", "high_heart_rate", "high")]
    clear = out[0][1]
    assert clear.onset_ms == T0_MS and "80 bpm" in clear.message
    # Tachycardia again at once: sustained after 10 min, but the cooldown (30 min after the
    # clear at window 19) holds the open back until window 49.
    state, out = run([verdict(i, 130.0) for i in range(20, 60)], state)
    opened = [(k + 20, a) for k, a in out if a.action == "open"]
    assert len(opened) == 1
    assert opened[0][0] == 49
    assert opened[0][1].onset_ms == verdict(20).end_ms - WIN_MS  # the condition began at 20


def test_condition_returning_before_clear_keeps_the_same_alert() -> None:
    hrs = [130.0] * 10 + [80.0] * 5 + [130.0] * 10
    _, out = run(hr_series(hrs))
    assert kinds(out) == [
        (9, "open", "high_heart_rate", "high"),
        (15, "update", "high_heart_rate", "high"),  # first present window >= 5 min later
        (20, "update", "high_heart_rate", "high"),
    ]
    assert {a.onset_ms for _, a in out} == {T0_MS}


def test_unknown_windows_do_not_clear() -> None:
    hrs: list[float | None] = [130.0] * 10 + [80.0] * 5 + [None] + [80.0] * 9
    _, out = run(hr_series(hrs))
    assert [a.action for _, a in out] == ["open"]


# --- arrhythmia 5 of 6 ------------------------------------------------------------------


def rhythm(pattern: Sequence[bool | None], start: int = 0) -> list[WindowVerdict]:
    return [verdict(start + i, 72.0, irregular=p) for i, p in enumerate(pattern)]


def test_arrhythmia_five_of_six_with_an_interruption() -> None:
    _, out = run(rhythm([True, True, False, True, True, True]))
    assert kinds(out) == [(5, "open", "arrhythmia", "high")]
    assert out[0][1].onset_ms == T0_MS  # first irregular window's start
    assert "5 of the last 6" in out[0][1].message


def test_four_of_six_never_alerts() -> None:
    _, out = run(rhythm([True, True, False] * 20))
    assert out == []


def test_two_interruptions_delay_the_alert() -> None:
    pattern = [True, True, False, False, True, True, True, True, True]
    _, out = run(rhythm(pattern[:8]))
    assert out == []  # last six F,F,T,T,T,T: 4 of 6
    _, out = run(rhythm(pattern))
    assert kinds(out) == [(8, "open", "arrhythmia", "high")]  # F,T,T,T,T,T: 5 of 6
    assert out[0][1].onset_ms == verdict(4).end_ms - WIN_MS  # earliest irregular counted


def test_unclassifiable_windows_are_skipped_not_counted() -> None:
    _, out = run(rhythm([True, True, None, None, True, True, True]))
    assert kinds(out) == [(6, "open", "arrhythmia", "high")]
    _, out = run(rhythm([None] * 30 + [False, True, True, True, True]))
    assert out == []  # None never counts as irregular
    _, out = run(rhythm([True, True, True, True] + [None] * 12 + [True]))
    assert out == []  # the first four left the 15 min span


def test_rhythm_gap_empties_the_history() -> None:
    vs = rhythm([True] * 4) + rhythm([True], start=6)
    _, out = run(vs)
    assert out == []


def test_arrhythmia_clears_after_ten_regular_minutes() -> None:
    _, out = run(rhythm([True] * 6 + [False] * 20))
    # history stays >= 5 of 6 irregular for one more window, then 10 min absent.
    assert kinds(out) == [(4, "open", "arrhythmia", "high"), (16, "clear", "arrhythmia", "high")]


# --- stress -----------------------------------------------------------------------------


def test_stress_alert_low_then_medium() -> None:
    vs = [verdict(i, 80.0, stress=8) for i in range(10)] + [verdict(10, 80.0, stress=10)]
    _, out = run(vs)
    assert kinds(out) == [
        (9, "open", "high_stress", "low"),
        (10, "update", "high_stress", "medium"),
    ]
    assert out[0][1].stress_level == 8 and "Stress level 8" in out[0][1].message


def test_stress_seven_or_warming_up_never_alerts() -> None:
    _, out = run([verdict(i, 80.0, stress=7) for i in range(30)])
    assert out == []
    _, out = run([verdict(i, 80.0, stress=None) for i in range(30)])
    assert out == []


# --- sos, errors, determinism, serialisation ---------------------------------------------


def test_sos_is_critical_and_opens_now() -> None:
    a = sos_action(T0_MS, 88)
    assert (a.action, a.alert_type, a.severity, a.onset_ms, a.at_ms) == (
        "open",
        "sos",
        "critical",
        T0_MS,
        T0_MS,
    )
    assert "88 bpm" in a.message


@pytest.mark.parametrize(
    ("v", "needle"),
    [
        (verdict(0, -5.0), "heart_rate_bpm=-5.0"),
        (verdict(0, float("inf")), "heart_rate_bpm=inf"),
        (verdict(0, 70.0, stress=11), "stress_level=11"),
    ],
)
def test_impossible_verdicts_raise_naming_the_value(v: WindowVerdict, needle: str) -> None:
    with pytest.raises(InvalidVerdict, match=needle) as err:
        rules_step(RuleState(), v)
    assert isinstance(err.value, DetectorError) and isinstance(err.value, ValueError)


def random_verdicts(seed: int, n: int = 600) -> list[WindowVerdict]:
    """A seeded day-ish of verdicts with episodes of every condition and some gaps."""
    rng = np.random.default_rng(seed)
    out: list[WindowVerdict] = []
    i = 0
    while len(out) < n:
        hr_level = float(rng.choice([35.0, 28.0, 70.0, 70.0, 130.0, 160.0]))
        irregular_p = float(rng.choice([0.05, 0.9]))
        stress = int(rng.choice([3, 8, 10]))
        for _ in range(int(rng.integers(3, 25))):
            hr = None if rng.random() < 0.03 else hr_level + float(rng.normal(0, 2))
            irr = None if rng.random() < 0.1 else bool(rng.random() < irregular_p)
            out.append(
                verdict(i, hr, at_rest=bool(rng.random() < 0.9), irregular=irr, stress=stress)
            )
            i += 2 if rng.random() < 0.02 else 1  # occasional missing window
    return out


def test_replay_gives_identical_actions() -> None:
    vs = random_verdicts(7)
    state_a, out_a = run(vs)
    state_b, out_b = run(vs)
    assert out_a == out_b and state_a == state_b
    types = {a.alert_type for _, a in out_a}
    assert types == {"high_heart_rate", "low_heart_rate", "arrhythmia", "high_stress"}
    # invariant: never two open alerts of one type
    open_types: set[str] = set()
    for _, a in out_a:
        if a.action == "open":
            assert a.alert_type not in open_types
            open_types.add(a.alert_type)
        elif a.action == "clear":
            open_types.remove(a.alert_type)
        else:
            assert a.alert_type in open_types


def test_state_round_trips_through_json_mid_stream() -> None:
    vs = random_verdicts(11, n=300)
    _, expected = run(vs)
    state = RuleState()
    got: list[tuple[int, AlertAction]] = []
    for k, v in enumerate(vs):
        data = json.loads(json.dumps(serialize.state_to_json(state)))
        restored = serialize.state_from_json(RuleState, data)
        assert restored == state
        state, actions = rules_step(restored, v)
        got.extend((k, a) for a in actions)
    assert got == expected


def test_config_changes_the_rules() -> None:
    cfg = replace(DEFAULT, hr_sustain_s=300.0, high_hr_bpm=100.0)
    state = RuleState()
    out = []
    for v in hr_series([110.0] * 6):
        state, actions = rules_step(state, v, cfg)
        out.extend(actions)
    assert [(a.action, a.alert_type) for a in out] == [("open", "high_heart_rate")]
    assert out[0].at_ms == T0_MS + 5 * WIN_MS


# --- end to end: RR intervals -> window features -> verdicts -> actions ----------------


def verdicts_from_rr(rr_mean_ms: float, activity_g: float, minutes: int) -> list[WindowVerdict]:
    """Seeded sinus RR windows through ``analyze_windows``, mapped as the pipeline does."""
    rng = np.random.default_rng(3)
    n_beats = int(60_000 / rr_mean_ms)
    rr = [rr_mean_ms + rng.normal(0.0, 0.02 * rr_mean_ms, n_beats) for _ in range(minutes)]
    ends = [T0_MS + WIN_MS * (i + 1) for i in range(minutes)]
    batch = WindowBatch.from_lists(rr, end_ms=ends, activity_g=[activity_g] * minutes)
    f = analyze_windows(batch)
    return [
        WindowVerdict(
            end_ms=ends[i],
            heart_rate_bpm=float(f.heart_rate_bpm[i]),
            stress_level=None,
            irregular=bool(f.irregular[i]) if bool(f.rhythm_valid[i]) else None,
            at_rest=bool(f.at_rest[i]),
        )
        for i in range(minutes)
    ]


def test_resting_tachycardia_rr_trace_raises_high_heart_rate() -> None:
    vs = verdicts_from_rr(450.0, activity_g=0.01, minutes=12)  # ~133 bpm at rest
    assert all(v.heart_rate_bpm is not None and 128 < v.heart_rate_bpm < 138 for v in vs)
    _, out = run(vs)
    assert kinds(out) == [(9, "open", "high_heart_rate", "high")]


def test_same_rate_while_active_raises_nothing() -> None:
    _, out = run(verdicts_from_rr(450.0, activity_g=0.4, minutes=12))
    assert out == []


def test_bradycardia_rr_trace_raises_low_heart_rate() -> None:
    _, out = run(verdicts_from_rr(1650.0, activity_g=0.01, minutes=12))  # ~36 bpm
    assert [(a.action, a.alert_type) for _, a in out] == [("open", "low_heart_rate")]
