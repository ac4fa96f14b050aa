"""Scoring raised alerts against ground-truth labels.

:func:`score_alerts` is pure (labels and alerts in, a report out). The alerts of a
database come from :func:`storage.repositories.outcomes.alerts_from_db` (``healthAlerts``
joined with ``alertStates``: the type is ``alertType``, or ``kind`` — ``sos`` — when
``alertType`` is NULL), which the composition root (``vitals score``) calls.

A labelled event of type T is *detected* when an alert of type T for the same user is
created within ``[start, end + tolerance]``; its *delay* is the first such alert's
``createdAt - start``. An alert of type T that lies in no such interval of a T label is
a *false alert*; false alerts are also counted per confounder label (exercise, ectopy,
fall-like movement, cancelled fall) they overlap, so the table shows what fooled the
detectors.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from simulators.trace_io import ALERT_LABELS, CONFOUNDER_LABELS, Label

DEFAULT_TOLERANCE_MS = 5 * 60_000
"""Grace after a label's end in which an alert still counts as detecting it: one summary
window plus the rule evaluation and the 30 s fall grace period fit well inside 5 min."""


class AlertLike(Protocol):
    """What scoring needs of a raised alert (a :class:`RaisedAlert` or a stored one)."""

    @property
    def user(self) -> int: ...
    @property
    def type(self) -> str: ...
    @property
    def created_ms(self) -> int: ...


@dataclass(frozen=True)
class RaisedAlert:
    user: int
    type: str
    created_ms: int


@dataclass(frozen=True)
class TypeScore:
    """Scores of one alert type. Delays in seconds; NaN when nothing was detected."""

    alert_type: str
    events: int
    detected: int
    sensitivity: float
    alerts: int
    false_alerts: int
    false_per_hour: float
    delay_median_s: float
    delay_p95_s: float


@dataclass(frozen=True)
class ScoreReport:
    types: tuple[TypeScore, ...]
    #: confounder label type -> (labels, {alert type: false alerts during them})
    confounders: dict[str, tuple[int, dict[str, int]]] = field(default_factory=dict)
    user_hours: float = math.nan

    def to_json(self) -> dict[str, Any]:
        def clean(value: Any) -> Any:
            return None if isinstance(value, float) and math.isnan(value) else value

        return {
            "user_hours": clean(self.user_hours),
            "types": [{k: clean(v) for k, v in asdict(t).items()} for t in self.types],
            "confounders": {
                name: {"labels": n, "false_alerts": dict(by_type)}
                for name, (n, by_type) in self.confounders.items()
            },
        }


def _inside(label: Label, at_ms: int, tolerance_ms: int) -> bool:
    return label.start_ms <= at_ms <= label.end_ms + tolerance_ms


def score_alerts(
    labels: Iterable[Label],
    alerts: Iterable[AlertLike],
    *,
    user_hours: float = math.nan,
    tolerance_ms: int = DEFAULT_TOLERANCE_MS,
    alert_types: Sequence[str] = ALERT_LABELS,
) -> ScoreReport:
    """Per alert type sensitivity, false alerts (per observed user-hour) and delay.

    Parameters
    ----------
    labels, alerts
        Ground truth and raised alerts (times epoch ms).
    user_hours : float
        Observed user-hours (users × trace duration); false alerts per hour is NaN
        without it.
    tolerance_ms : int
        Grace after each label's end.
    alert_types
        Types reported (also any other type an alert carries).
    """
    by_type: dict[tuple[int, str], list[Label]] = defaultdict(list)
    all_labels = list(labels)
    for label in all_labels:
        by_type[(label.user, label.type)].append(label)
    alerts_list = sorted(alerts, key=lambda a: (a.created_ms, a.user, a.type))
    types = list(alert_types) + sorted({a.type for a in alerts_list} - set(alert_types))
    false: list[AlertLike] = []
    scores = []
    for alert_type in types:
        events = [lb for lb in all_labels if lb.type == alert_type]
        mine = [a for a in alerts_list if a.type == alert_type]
        delays = []
        for label in events:
            hits = [
                a.created_ms
                for a in mine
                if a.user == label.user and _inside(label, a.created_ms, tolerance_ms)
            ]
            if hits:
                delays.append((min(hits) - label.start_ms) / 1000.0)
        wrong = [
            a
            for a in mine
            if not any(
                _inside(lb, a.created_ms, tolerance_ms) for lb in by_type[(a.user, alert_type)]
            )
        ]
        false += wrong
        scores.append(
            TypeScore(
                alert_type=alert_type,
                events=len(events),
                detected=len(delays),
                sensitivity=len(delays) / len(events) if events else math.nan,
                alerts=len(mine),
                false_alerts=len(wrong),
                false_per_hour=len(wrong) / user_hours if user_hours > 0 else math.nan,
                delay_median_s=float(np.median(delays)) if delays else math.nan,
                delay_p95_s=float(np.percentile(delays, 95)) if delays else math.nan,
            )
        )
    confounders: dict[str, tuple[int, dict[str, int]]] = {}
    for name in CONFOUNDER_LABELS:
        mine_labels = [lb for lb in all_labels if lb.type == name]
        counts: dict[str, int] = defaultdict(int)
        for a in false:
            if any(
                lb.user == a.user and _inside(lb, a.created_ms, tolerance_ms) for lb in mine_labels
            ):
                counts[a.type] += 1
        confounders[name] = (len(mine_labels), dict(sorted(counts.items())))
    return ScoreReport(tuple(scores), confounders, user_hours)


def format_report(report: ScoreReport) -> str:
    """The report as a Markdown table (pastes into the README as is)."""

    def num(value: float, fmt: str) -> str:
        return "–" if math.isnan(value) else format(value, fmt)

    lines = [
        "| alert type | events | detected | sensitivity | alerts | false | false/h "
        "| delay median (s) | delay p95 (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in report.types:
        lines.append(
            f"| {t.alert_type} | {t.events} | {t.detected} | {num(t.sensitivity, '.2f')} "
            f"| {t.alerts} | {t.false_alerts} | {num(t.false_per_hour, '.4f')} "
            f"| {num(t.delay_median_s, '.0f')} | {num(t.delay_p95_s, '.0f')} |"
        )
    lines += ["", "| confounder | labels | false alerts during them |", "|---|---:|---|"]
    for name, (n, counts) in report.confounders.items():
        during = ", ".join(f"{k}: {v}" for k, v in counts.items()) or "none"
        lines.append(f"| {name} | {n} | {during} |")
    lines.append("")
    lines.append(f"observed user-hours: {num(report.user_hours, '.1f')}")
    return "\n".join(lines)
