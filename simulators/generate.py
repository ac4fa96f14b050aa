"""Render a :class:`~simulators.plan.SimulationPlan` into a trace, labels and manifest.

Users are rendered one by one (beats, activity codes, overlays), then the trace is
written block by block of time (60 s): accelerometer samples of all users at once,
their ``rr`` batches, button events and optional waveforms, merged into publish order.
Output bytes depend only on the plan, the options and the seed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simulators.accel_model import render_activity
from simulators.errors import SimulatorError
from simulators.payloads import rr_payloads
from simulators.plan import SimulationPlan
from simulators.timeline import Timeline, build_timeline
from simulators.trace_io import (
    KIND_ORDER,
    Contact,
    Label,
    Manifest,
    TraceWriter,
    UserEntry,
    companion_paths,
    make_payload,
    write_labels,
    write_manifest,
)
from simulators.waveforms import render_waveform

BLOCK_S = 60
KINDS = ("rr", "accel", "ecg", "ppg")


@dataclass(frozen=True)
class Options:
    """Output options: which kinds, accelerometer rate, device batching (ms)."""

    kinds: tuple[str, ...] = ("rr", "accel")
    accel_fs_hz: int = 25
    rr_batch_ms: int = 5000
    accel_batch_ms: int = 1000
    wave_batch_ms: int = 1000
    compresslevel: int = 1

    def __post_init__(self) -> None:
        bad = set(self.kinds) - set(KINDS)
        if bad:
            raise SimulatorError(f"kind(s) {sorted(bad)} not among {KINDS}")
        if not 1 <= self.accel_fs_hz <= 200:
            raise SimulatorError(f"accelerometer rate {self.accel_fs_hz} Hz not in 1..200")
        for name in ("rr_batch_ms", "accel_batch_ms", "wave_batch_ms"):
            value = getattr(self, name)
            if value < 100 or (BLOCK_S * 1000) % value:
                raise SimulatorError(f"{name}={value} must be >= 100 and divide 60000")


@dataclass(frozen=True)
class Result:
    trace: Path
    labels_path: Path
    manifest_path: Path
    lines: int
    bytes: int
    seconds: float
    labels: tuple[Label, ...]


def watch_id(user: int) -> str:
    return f"watch-{user:04d}"


def chest_id(user: int) -> str:
    return f"chest-{user:04d}"


def fake_contacts(user: int) -> tuple[Contact, ...]:
    """Two fictitious contacts per user, numbers in the +1 555 010 xxxx range (555 numbers
    are reserved for fiction by the North American Numbering Plan)."""
    first = (2 * user) % 10_000
    second = (2 * user + 1) % 10_000
    return (
        Contact(f"Contact A of user {user}", f"+1555010{first:04d}", "family", True),
        Contact(f"Contact B of user {user}", f"+1555010{second:04d}", "friend", False),
    )


def manifest_for(plan: SimulationPlan, options: Options) -> Manifest:
    users = []
    for u in plan.users:
        devices = [watch_id(u.user)]
        if "ecg" in options.kinds:
            devices.append(chest_id(u.user))
        users.append(
            UserEntry(
                u.user,
                f"vitals-sim-{u.user}",
                u.name or f"Sim User {u.user}",
                tuple(devices),
                fake_contacts(u.user),
            )
        )
    meta = {
        "kinds": list(options.kinds),
        "accel_fs_hz": options.accel_fs_hz,
        "rr_batch_ms": options.rr_batch_ms,
        "accel_batch_ms": options.accel_batch_ms,
    }
    return Manifest(plan.start_ms, plan.end_ms, tuple(users), plan.seed, "simulate", meta)


def simulate(
    plan: SimulationPlan,
    out: Path,
    options: Options | None = None,
    progress: Callable[[float], None] | None = None,
) -> Result:
    """Write ``out`` (trace), ``<stem>.labels.jsonl`` and ``<stem>.users.json``."""
    options = options or Options()
    started = time.perf_counter()
    fs = options.accel_fs_hz
    timelines: list[Timeline] = []
    for u in plan.users:
        rng = np.random.default_rng([plan.seed, 0, u.user])
        timelines.append(build_timeline(plan, u, fs, rng))
    codes = np.stack([t.codes for t in timelines])
    phase = np.random.default_rng([plan.seed, 5]).uniform(0, 2 * np.pi, len(timelines))
    labels = tuple(lb for t in timelines for lb in t.labels)
    n_blocks = -(-plan.duration_s // BLOCK_S)
    with TraceWriter(out, options.compresslevel) as writer:
        for block in range(n_blocks):
            payloads = _block_payloads(
                plan, options, timelines=timelines, codes=codes, phase=phase, block=block
            )
            payloads.sort(key=lambda p: (p["ts"], p["user"], p["device"], KIND_ORDER[p["kind"]]))
            writer.write(payloads)
            if progress:
                progress((block + 1) / n_blocks)
        lines = writer.lines
    labels_path, manifest_path = companion_paths(out)
    write_labels(labels_path, labels)
    write_manifest(manifest_path, manifest_for(plan, options))
    return Result(
        out,
        labels_path,
        manifest_path,
        lines,
        out.stat().st_size,
        time.perf_counter() - started,
        labels,
    )


def _block_payloads(
    plan: SimulationPlan,
    options: Options,
    *,
    timelines: list[Timeline],
    codes: np.ndarray,
    phase: np.ndarray,
    block: int,
) -> list[dict[str, Any]]:
    s0 = block * BLOCK_S
    s1 = min(plan.duration_s, s0 + BLOCK_S)
    b0, b1 = plan.start_ms + s0 * 1000, plan.start_ms + s1 * 1000
    out: list[dict[str, Any]] = []
    if "rr" in options.kinds:
        for t in timelines:
            i0, i1 = np.searchsorted(t.beats_ms, [b0, b1])
            if i1 > i0:
                out += rr_payloads(
                    t.user,
                    watch_id(t.user),
                    t.beats_ms[max(0, i0 - 1) : i1],
                    options.rr_batch_ms,
                    plan.start_ms,
                )
    for t in timelines:
        for ts, event in t.events:
            if b0 <= ts < b1:
                out.append(make_payload(t.user, watch_id(t.user), ts, "event", event=event))
    if "accel" in options.kinds:
        out += _accel_payloads(
            plan, options, timelines=timelines, codes=codes, phase=phase, block=block, s0=s0, s1=s1
        )
    for kind in ("ecg", "ppg"):
        if kind in options.kinds:
            for row, t in enumerate(timelines):
                device = chest_id(t.user) if kind == "ecg" else watch_id(t.user)
                out += render_waveform(
                    np.random.default_rng([plan.seed, 7, t.user, block, KINDS.index(kind)]),
                    kind=kind,
                    user=t.user,
                    device=device,
                    beats_ms=t.beats_ms,
                    codes=codes[row, s0:s1],
                    b0=b0,
                    b1=b1,
                    batch_ms=options.wave_batch_ms,
                )
    return out


def _accel_payloads(
    plan: SimulationPlan,
    options: Options,
    *,
    timelines: list[Timeline],
    codes: np.ndarray,
    phase: np.ndarray,
    block: int,
    s0: int,
    s1: int,
) -> list[dict[str, Any]]:
    fs = options.accel_fs_hz
    rng = np.random.default_rng([plan.seed, 6, block])
    xyz = render_activity(rng, codes[:, s0:s1], fs, float(s0), phase)
    first, last = s0 * fs, s1 * fs
    for row, t in enumerate(timelines):
        for at, samples in t.overlays:
            lo, hi = max(first, at), min(last, at + samples.shape[1])
            if lo < hi:
                xyz[:, row, lo - first : hi - first] = samples[:, lo - at : hi - at]
    xyz = np.round(xyz, 3)
    per = fs * options.accel_batch_ms // 1000
    n = xyz.shape[2]
    out = []
    for row, t in enumerate(timelines):
        device = watch_id(t.user)
        x, y, z = xyz[0, row], xyz[1, row], xyz[2, row]
        for k in range(0, n, per):
            ts = plan.start_ms + s0 * 1000 + k * 1000 // fs
            out.append(
                {
                    "user": t.user,
                    "device": device,
                    "ts": ts,
                    "kind": "accel",
                    "fields": {
                        "fs": fs,
                        "x": x[k : k + per],
                        "y": y[k : k + per],
                        "z": z[k : k + per],
                    },
                }
            )
    return out
