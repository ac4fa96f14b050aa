"""Alert rules: per-user state plus a pure step over each window's verdict.

One :class:`RuleState` per user holds, for each alert type, whether its condition is
currently *present* or *absent* and since when, the open alert (if any) and the time of
its last clear. :func:`rules_step` folds one :class:`WindowVerdict` into the state and
returns the :class:`AlertAction` list the pipeline stores and notifies. All timers run on
``verdict.end_ms`` (reading time), so replaying a trace reproduces the live actions.

Rules (defaults in :class:`~detectors.config.DetectorConfig`, sources cited there):

===============  ==========================================  =====================
alert_type       condition per window                        severity
===============  ==========================================  =====================
high_heart_rate  HR > 120 bpm *and* ``at_rest is True``      high; critical > 150
low_heart_rate   HR < 40 bpm                                 high; critical < 30
arrhythmia       >= 5 of the last 6 valid verdicts irregular high
high_stress      stress level >= 8                           low; medium >= 10
===============  ==========================================  =====================

Lifecycle of each type:

* Each window gives *evidence* ``True`` (condition present), ``False`` (observed
  absent) or ``None`` (unknown: no HR / stress in the window; for tachycardia also
  ``at_rest`` not ``True`` -- ``None`` activity counts as not at rest, exercise must not
  alert). ``None`` evidence and data gaps (verdicts more than ``rule_max_gap_s`` apart)
  restart both the present and the absent run: missing data never counts as sustained,
  and never clears an alert either.
* An alert *opens* when the present run spans ``hr_sustain_s`` / ``stress_sustain_s``
  (window start of the first window to end of the last: ten 60 s windows = 10 min, nine
  are not enough), unless the type is in its cooldown.
* While open and present, an ``update`` is emitted at once when the severity escalates
  (it never de-escalates while open) and otherwise at most every
  ``alert_update_interval_s`` with the latest HR/stress. One open alert per type.
* It *clears* when the condition has been absent for ``alert_clear_s`` in consecutive
  windows; the type then cannot re-open for ``alert_cooldown_s``.

Arrhythmia: a window with ``irregular is None`` (no trustworthy rhythm verdict) is
*skipped*: it neither counts as irregular nor as regular, and does not reset the count,
as Apple's irregular rhythm notification only counts classifiable tachograms. The
counted verdicts must lie within ``arrhythmia_max_span_s`` of reading time, so a few
noisy windows cannot stretch "5 of 6" over hours; a data gap empties the history.
Skipping can only delay an alert (five genuinely irregular verdicts are still needed),
never raise one on an unclassifiable window.

Verdicts whose ``end_ms`` is not after the last one seen are ignored (state unchanged, no
actions), so redelivery after a checkpoint restore is idempotent.

Examples
--------
>>> from detectors.rules import RuleState, WindowVerdict, rules_step
>>> state, actions = RuleState(), []
>>> for i in range(10):
...     v = WindowVerdict(end_ms=60_000 * (i + 1), heart_rate_bpm=134.0,
...                       stress_level=None, irregular=False, at_rest=True)
...     state, actions = rules_step(state, v)
>>> [(a.action, str(a.alert_type), str(a.severity)) for a in actions]
[('open', 'high_heart_rate', 'high')]
>>> actions[0].message
'Heart rate 134 bpm at rest for 10 min'
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

from detectors.config import DEFAULT, DetectorConfig
from detectors.errors import InvalidVerdict
from vocabulary import SEVERITY_RANK, AlertKind, Severity

__all__ = [
    "AlertAction",
    "AlertTrack",
    "RuleState",
    "WindowVerdict",
    "rules_step",
    "sos_action",
]

ActionKind = Literal["open", "update", "clear"]


@dataclass(frozen=True)
class WindowVerdict:
    """One user's window verdict, as the rules see it.

    Parameters
    ----------
    end_ms : int
        Window end, epoch ms of reading time.
    heart_rate_bpm : float or None
        Mean heart rate of the window (NaN is treated as ``None``).
    stress_level : int or None
        Stress level 1..10, ``None`` while the baseline warms up.
    irregular : bool or None
        AF-like irregular rhythm; ``None`` = no valid rhythm verdict in this window.
    at_rest : bool or None
        Low accelerometer activity; ``None`` = unknown (counts as not at rest).
    """

    end_ms: int
    heart_rate_bpm: float | None
    stress_level: int | None
    irregular: bool | None
    at_rest: bool | None


@dataclass(frozen=True)
class AlertAction:
    """Something the pipeline must store (``healthAlerts``) and maybe notify.

    Attributes
    ----------
    action : {"open", "update", "clear"}
    alert_type : str
        ``fall_detected``, ``arrhythmia``, ``high_heart_rate``, ``low_heart_rate``,
        ``high_stress`` or ``sos``.
    severity : str
        ``low``, ``medium``, ``high`` or ``critical``.
    onset_ms : int
        Reading time the condition began; with user and type it identifies the alert.
    at_ms : int
        Reading time of this action.
    heart_rate_bpm : int or None
        Latest heart rate at the time of the action.
    stress_level : int or None
        Latest stress level at the time of the action.
    message : str
        Short human text, e.g. ``"Heart rate 134 bpm at rest for 10 min"``.
    """

    action: ActionKind
    alert_type: str
    severity: str
    onset_ms: int
    at_ms: int
    heart_rate_bpm: int | None
    stress_level: int | None
    message: str


@dataclass(frozen=True)
class AlertTrack:
    """Lifecycle of one alert type for one user (JSON-able ints/strings only).

    Attributes
    ----------
    present_since_ms : int or None
        Start of the first window of the current run where the condition holds.
    absent_since_ms : int or None
        Start of the first window of the current run where it is observed absent.
    onset_ms : int or None
        Onset of the open alert; ``None`` when no alert of this type is open.
    severity : str or None
        Severity of the open alert (only escalates while open).
    last_action_ms : int or None
        Reading time of the last ``open``/``update`` of the open alert.
    cleared_ms : int or None
        Reading time of the last ``clear`` (start of the cooldown).
    """

    present_since_ms: int | None = None
    absent_since_ms: int | None = None
    onset_ms: int | None = None
    severity: str | None = None
    last_action_ms: int | None = None
    cleared_ms: int | None = None


@dataclass(frozen=True)
class RuleState:
    """Per-user alert-rule state: plain data, checkpointable with ``state_to_json``.

    Attributes
    ----------
    last_end_ms : int or None
        ``end_ms`` of the last verdict folded in.
    high_heart_rate, low_heart_rate, arrhythmia, high_stress : AlertTrack
        One lifecycle per alert type.
    rhythm_end_ms : tuple of int
        ``end_ms`` of the last (at most ``arrhythmia_of_windows``) valid rhythm verdicts.
    rhythm_irregular : tuple of bool
        Their verdicts, aligned with ``rhythm_end_ms``.
    """

    last_end_ms: int | None = None
    high_heart_rate: AlertTrack = field(default_factory=AlertTrack)
    low_heart_rate: AlertTrack = field(default_factory=AlertTrack)
    arrhythmia: AlertTrack = field(default_factory=AlertTrack)
    high_stress: AlertTrack = field(default_factory=AlertTrack)
    rhythm_end_ms: tuple[int, ...] = ()
    rhythm_irregular: tuple[bool, ...] = ()


@dataclass(frozen=True)
class _Evidence:
    """One type's reading of one window."""

    present: bool | None
    severity: str
    onset_ms: int | None = None  # overrides the run start as the alert's onset


def sos_action(
    at_ms: int, heart_rate_bpm: int | None, config: DetectorConfig = DEFAULT
) -> AlertAction:
    """The ``open`` action of an ``sos`` alert: critical, now.

    Parameters
    ----------
    at_ms : int
        Reading time of the SOS event (its ``ts``).
    heart_rate_bpm : int or None
        Latest known heart rate of the user, if any.
    config : DetectorConfig
        Unused today; accepted so every entry point takes the same settings.

    Returns
    -------
    AlertAction
        ``open`` / ``sos`` / ``critical`` with ``onset_ms == at_ms``.
    """
    del config
    hr_text = f", heart rate {heart_rate_bpm} bpm" if heart_rate_bpm is not None else ""
    return AlertAction(
        action="open",
        alert_type=AlertKind.SOS,
        severity=Severity.CRITICAL,
        onset_ms=int(at_ms),
        at_ms=int(at_ms),
        heart_rate_bpm=heart_rate_bpm,
        stress_level=None,
        message=f"SOS pressed{hr_text}",
    )


def rules_step(
    state: RuleState, verdict: WindowVerdict, config: DetectorConfig = DEFAULT
) -> tuple[RuleState, list[AlertAction]]:
    """Fold one window verdict into a user's rule state.

    Parameters
    ----------
    state : RuleState
        The user's state (``RuleState()`` for a new user).
    verdict : WindowVerdict
        The next window of this user, in reading-time order.
    config : DetectorConfig
        Thresholds, sustain/clear/cooldown durations.

    Returns
    -------
    state : RuleState
        The new state (the input is never modified).
    actions : list of AlertAction
        ``open``/``update``/``clear`` actions, in the order high_heart_rate,
        low_heart_rate, arrhythmia, high_stress.

    Raises
    ------
    InvalidVerdict
        Heart rate not positive or infinite, stress level outside 1..10.
    """
    hr = _checked_hr(verdict)
    if verdict.stress_level is not None and not 1 <= verdict.stress_level <= 10:
        raise InvalidVerdict(
            f"stress_level={verdict.stress_level!r} at end_ms={verdict.end_ms}: not in 1..10"
        )
    end_ms = int(verdict.end_ms)
    if state.last_end_ms is not None and end_ms <= state.last_end_ms:
        return state, []
    contiguous = (
        state.last_end_ms is not None
        and end_ms - state.last_end_ms <= config.rule_max_gap_s * 1000.0
    )
    start_ms = end_ms - int(config.window_s * 1000)
    rhythm_end, rhythm_irr, arrhythmia = _rhythm_evidence(state, verdict, contiguous, config)
    hr_sustain_ms = config.hr_sustain_s * 1000.0
    stress_level = verdict.stress_level
    actions: list[AlertAction] = []

    def run(
        name: str,
        track: AlertTrack,
        evidence: _Evidence,
        sustain_ms: float,
        describe: Callable[[str, int], str],
    ) -> AlertTrack:
        new, acts = _advance_track(
            track, evidence, alert_type=name, end_ms=end_ms, start_ms=start_ms,
            contiguous=contiguous, sustain_ms=sustain_ms, hr=hr, stress_level=stress_level,
            describe=describe, config=config,
        )  # fmt: skip
        actions.extend(acts)
        return new

    high = run(
        AlertKind.HIGH_HEART_RATE,
        state.high_heart_rate,
        _high_hr_evidence(hr, verdict.at_rest, config),
        hr_sustain_ms,
        lambda kind, minutes: _hr_message(kind, hr, minutes, " at rest"),
    )
    low = run(
        AlertKind.LOW_HEART_RATE,
        state.low_heart_rate,
        _low_hr_evidence(hr, config),
        hr_sustain_ms,
        lambda kind, minutes: _hr_message(kind, hr, minutes, ""),
    )
    arr = run(
        AlertKind.ARRHYTHMIA,
        state.arrhythmia,
        arrhythmia,
        0.0,
        lambda kind, minutes: _rhythm_message(kind, rhythm_irr, minutes),
    )
    stress = run(
        AlertKind.HIGH_STRESS,
        state.high_stress,
        _stress_evidence(stress_level, config),
        config.stress_sustain_s * 1000.0,
        lambda kind, minutes: _stress_message(kind, stress_level, minutes, config),
    )
    new_state = RuleState(
        last_end_ms=end_ms,
        high_heart_rate=high,
        low_heart_rate=low,
        arrhythmia=arr,
        high_stress=stress,
        rhythm_end_ms=rhythm_end,
        rhythm_irregular=rhythm_irr,
    )
    return new_state, actions


def _checked_hr(verdict: WindowVerdict) -> float | None:
    hr = verdict.heart_rate_bpm
    if hr is None or math.isnan(hr):
        return None
    if not math.isfinite(hr) or hr <= 0.0:
        raise InvalidVerdict(
            f"heart_rate_bpm={hr!r} at end_ms={verdict.end_ms}: not a positive finite rate"
        )
    return float(hr)


def _high_hr_evidence(hr: float | None, at_rest: bool | None, config: DetectorConfig) -> _Evidence:
    if hr is None:
        return _Evidence(None, Severity.HIGH)
    severity = Severity.CRITICAL if hr > config.high_hr_critical_bpm else Severity.HIGH
    if hr <= config.high_hr_bpm:
        return _Evidence(False, severity)
    if config.require_rest_for_tachycardia and at_rest is not True:
        return _Evidence(None, severity)  # fast but moving (or unknown): neither for nor against
    return _Evidence(True, severity)


def _low_hr_evidence(hr: float | None, config: DetectorConfig) -> _Evidence:
    if hr is None:
        return _Evidence(None, Severity.HIGH)
    severity = Severity.CRITICAL if hr < config.low_hr_critical_bpm else Severity.HIGH
    return _Evidence(hr < config.low_hr_bpm, severity)


def _stress_evidence(level: int | None, config: DetectorConfig) -> _Evidence:
    if level is None:
        return _Evidence(None, Severity.LOW)
    severity = Severity.MEDIUM if level >= config.stress_alert_medium_level else Severity.LOW
    return _Evidence(level >= config.stress_alert_level, severity)


def _rhythm_evidence(
    state: RuleState, verdict: WindowVerdict, contiguous: bool, config: DetectorConfig
) -> tuple[tuple[int, ...], tuple[bool, ...], _Evidence]:
    """Update the last-N rhythm history; evidence is the 5-of-6 test on it."""
    ends, irr = (state.rhythm_end_ms, state.rhythm_irregular) if contiguous else ((), ())
    end_ms = int(verdict.end_ms)
    if verdict.irregular is None:
        return ends, irr, _Evidence(None, config.arrhythmia_severity)
    span_ms = config.arrhythmia_max_span_s * 1000.0
    pairs = [(e, i) for e, i in zip(ends, irr, strict=True) if end_ms - e < span_ms]
    pairs.append((end_ms, bool(verdict.irregular)))
    pairs = pairs[-config.arrhythmia_of_windows :]
    ends = tuple(e for e, _ in pairs)
    irr = tuple(i for _, i in pairs)
    present = sum(irr) >= config.arrhythmia_irregular_windows
    first_irregular = next((e for e, i in pairs if i), end_ms)
    onset = first_irregular - int(config.window_s * 1000)
    return ends, irr, _Evidence(present, config.arrhythmia_severity, onset if present else None)


def _advance_track(
    track: AlertTrack,
    ev: _Evidence,
    *,
    alert_type: str,
    end_ms: int,
    start_ms: int,
    contiguous: bool,
    sustain_ms: float,
    hr: float | None,
    stress_level: int | None,
    describe: Callable[[str, int], str],
    config: DetectorConfig,
) -> tuple[AlertTrack, list[AlertAction]]:
    present_since = track.present_since_ms if contiguous else None
    absent_since = track.absent_since_ms if contiguous else None
    if ev.present is True:
        present_since = start_ms if present_since is None else present_since
        absent_since = None
    elif ev.present is False:
        absent_since = start_ms if absent_since is None else absent_since
        present_since = None
    else:
        present_since = absent_since = None
    track = replace(track, present_since_ms=present_since, absent_since_ms=absent_since)
    hr_int = None if hr is None else round(hr)

    def action(kind: ActionKind, onset: int, severity: str, since: int) -> AlertAction:
        minutes = round((end_ms - since) / 60_000)
        return AlertAction(
            kind, alert_type, severity, onset, end_ms, hr_int, stress_level, describe(kind, minutes)
        )

    open_onset, open_severity, last_action = track.onset_ms, track.severity, track.last_action_ms
    if open_onset is not None:  # an alert of this type is open
        assert open_severity is not None and last_action is not None
        if ev.present is True:
            escalated = SEVERITY_RANK[ev.severity] > SEVERITY_RANK[open_severity]
            due = end_ms - last_action >= config.alert_update_interval_s * 1000.0
            if escalated or due:
                severity = ev.severity if escalated else open_severity
                track = replace(track, severity=severity, last_action_ms=end_ms)
                return track, [action("update", open_onset, severity, open_onset)]
        elif absent_since is not None and end_ms - absent_since >= config.alert_clear_s * 1000.0:
            act = action("clear", open_onset, open_severity, absent_since)
            track = replace(
                track, onset_ms=None, severity=None, last_action_ms=None, cleared_ms=end_ms
            )
            return track, [act]
        return track, []

    if present_since is None or end_ms - present_since < sustain_ms:
        return track, []
    if track.cleared_ms is not None and end_ms - track.cleared_ms < config.alert_cooldown_s * 1000:
        return track, []
    onset = present_since if ev.onset_ms is None else ev.onset_ms
    track = replace(track, onset_ms=onset, severity=ev.severity, last_action_ms=end_ms)
    return track, [action("open", onset, ev.severity, present_since)]


def _hr_message(kind: str, hr: float | None, minutes: int, where: str) -> str:
    rate = "unknown" if hr is None else f"{round(hr)} bpm"
    if kind == "clear":
        return f"Heart rate back in range ({rate}) for {minutes} min"
    return f"Heart rate {rate}{where} for {minutes} min"


def _rhythm_message(kind: str, irregular: tuple[bool, ...], minutes: int) -> str:
    if kind == "clear":
        return f"No sustained irregular rhythm for {minutes} min"
    return f"Irregular rhythm in {sum(irregular)} of the last {len(irregular)} readings"


def _stress_message(kind: str, level: int | None, minutes: int, cfg: DetectorConfig) -> str:
    if kind == "clear":
        return f"Stress below {cfg.stress_alert_level} for {minutes} min"
    return f"Stress level {level} for {minutes} min"
