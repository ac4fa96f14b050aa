"""A trace read back into arrays per user (for tests, plots and checks), and the payload
contract check (``docs/architecture.md``, "Payload contract")."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from simulators.payloads import RR_MAX_MS, RR_MIN_MS
from simulators.trace_io import open_binary_reader

KINDS = ("rr", "hr", "ppg", "ecg", "accel", "event")
EVENTS = ("sos", "cancel", "manual")
HR_MIN_BPM, HR_MAX_BPM = 20, 250


def contract_problem(p: dict[str, Any]) -> str | None:
    """Why ``p`` breaks the payload contract (``docs/architecture.md``), or None."""
    for key, kind in (
        ("v", int),
        ("user", int),
        ("device", str),
        ("seq", int),
        ("ts", int),
        ("kind", str),
    ):
        if not isinstance(p.get(key), kind) or isinstance(p.get(key), bool):
            return f"field {key!r} missing or not {kind.__name__}: {p.get(key)!r}"
    if p["v"] != 1:
        return f"version {p['v']} is not 1"
    k = p["kind"]
    if k not in KINDS:
        return f"kind {k!r} unknown"
    if k == "event":
        return None if p.get("event") in EVENTS else f"event {p.get('event')!r} unknown"
    if k == "rr":
        return _rr_problem(p.get("rr_ms"))
    return _sampled_problem(p, k)


def _rr_problem(rr: Any) -> str | None:
    if not isinstance(rr, list) or not rr:
        return "rr_ms missing or empty"
    if not all(isinstance(x, int | float) and RR_MIN_MS <= x <= RR_MAX_MS for x in rr):
        return f"rr_ms outside {RR_MIN_MS}-{RR_MAX_MS} ms: {rr}"
    return None


def _sampled_problem(p: dict[str, Any], k: str) -> str | None:
    fs = p.get("fs")
    if not isinstance(fs, int | float) or not fs > 0:
        return f"fs {fs!r} is not a positive number"
    channels = ("x", "y", "z") if k == "accel" else ("bpm",) if k == "hr" else ("values",)
    lengths = set()
    for name in channels:
        values = p.get(name)
        if not isinstance(values, list) or not values:
            return f"{name} missing or empty"
        if not all(isinstance(x, int | float) and math.isfinite(x) for x in values):
            return f"{name} has a non-finite or non-number value"
        lengths.add(len(values))
    if len(lengths) != 1:
        return f"channels differ in length: {lengths}"
    if k == "hr" and not all(HR_MIN_BPM <= x <= HR_MAX_BPM for x in p["bpm"]):
        return f"bpm outside {HR_MIN_BPM}-{HR_MAX_BPM}"
    return None


def check_trace(payloads: Iterable[dict[str, Any]]) -> list[str]:
    """Contract problems of a whole trace: each payload, ``ts`` sorted, ``seq`` increasing
    per device. Empty when the trace is valid."""
    problems: list[str] = []
    last_ts = -(2**62)
    last_seq: dict[str, int] = {}
    for line, p in enumerate(payloads, 1):
        problem = contract_problem(p)
        if problem:
            problems.append(f"line {line}: {problem}")
            continue
        if p["ts"] < last_ts:
            problems.append(f"line {line}: ts {p['ts']} before {last_ts}")
        last_ts = p["ts"]
        if p["seq"] <= last_seq.get(p["device"], 0):
            problems.append(f"line {line}: seq {p['seq']} of {p['device']} not increasing")
        last_seq[p["device"]] = p["seq"]
    return problems


@dataclass
class UserSignals:
    """One user's streams from a trace (times epoch ms)."""

    beat_ms: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    rr_ms: np.ndarray = field(default_factory=lambda: np.empty(0))
    accel_ms: np.ndarray = field(default_factory=lambda: np.empty(0))
    accel_g: np.ndarray = field(default_factory=lambda: np.empty((3, 0)))
    events: list[tuple[int, str]] = field(default_factory=list)
    waveforms: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def load_user(path: Path, user: int, waveforms: bool = False) -> UserSignals:
    """Read ``user``'s beats (each with the RR interval ending at it), accelerometer
    samples and button events from a trace."""
    beats: list[np.ndarray] = []
    rrs: list[np.ndarray] = []
    acc_t: list[np.ndarray] = []
    acc: list[np.ndarray] = []
    waves: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}
    out = UserSignals()
    for p in _user_payloads(path, user):
        kind = p.get("kind")
        if kind == "rr":
            rr = np.asarray(p["rr_ms"], dtype=np.float64)
            beats.append(p["ts"] + np.r_[0.0, np.cumsum(rr[1:])])
            rrs.append(rr)
        elif kind == "accel":
            fs = float(p["fs"])
            acc_t.append(p["ts"] + np.arange(len(p["x"])) * 1000.0 / fs)
            acc.append(np.asarray([p["x"], p["y"], p["z"]], dtype=np.float64))
        elif kind == "event":
            out.events.append((int(p["ts"]), str(p["event"])))
        elif waveforms and kind in ("ecg", "ppg"):
            fs = float(p["fs"])
            t_list, v_list = waves.setdefault(kind, ([], []))
            t_list.append(p["ts"] + np.arange(len(p["values"])) * 1000.0 / fs)
            v_list.append(np.asarray(p["values"], dtype=np.float64))
    if beats:
        out.beat_ms = np.round(np.concatenate(beats)).astype(np.int64)
        out.rr_ms = np.concatenate(rrs)
    if acc:
        out.accel_ms = np.concatenate(acc_t)
        out.accel_g = np.concatenate(acc, axis=1)
    out.waveforms = {k: (np.concatenate(t), np.concatenate(v)) for k, (t, v) in waves.items()}
    return out


def _user_payloads(path: Path, user: int) -> Iterator[dict[str, Any]]:
    """Payloads of one user; lines written by :class:`TraceWriter` start with
    ``{"v":1,"user":N,`` so other users' lines are skipped without parsing them."""
    mine = f'{{"v":1,"user":{user},'.encode()
    ours = b'{"v":1,"user":'
    with open_binary_reader(path) as f:
        for line in f:
            if line.startswith(ours) and not line.startswith(mine):
                continue
            if not line.strip():
                continue
            payload = orjson.loads(line)
            if isinstance(payload, dict) and payload.get("user") == user:
                yield payload
