"""Reading and writing traces, label files and user manifests.

A *trace* is the MQTT payload contract (``docs/architecture.md``) written one JSON object per line
(JSONL), gzipped when the name ends in ``.gz``, sorted by ``ts`` (publish order). Two
companion files sit next to it:

- ``<stem>.labels.jsonl``: ground truth, one ``{"user", "type", "start_ms", "end_ms"}``
  object per line (CSV with the same header is read too);
- ``<stem>.users.json``: the users, their devices and fake emergency contacts, so
  ``vitals replay --register`` can create them.

``<stem>`` is the trace name without ``.jsonl``/``.jsonl.gz``.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import orjson

from simulators.errors import SimulatorError
from vocabulary import AlertKind, PayloadKind

#: Label types that are alert types (a detector should raise them) ...
ALERT_LABELS: tuple[str, ...] = tuple(
    kind.value
    for kind in (
        AlertKind.ARRHYTHMIA,
        AlertKind.HIGH_HEART_RATE,
        AlertKind.LOW_HEART_RATE,
        AlertKind.HIGH_STRESS,
        AlertKind.FALL_DETECTED,
        AlertKind.SOS,
    )
)
#: ... and confounders, during which the listed alert type must *not* be raised.
CONFOUNDER_LABELS: dict[str, str] = {
    "exercise": AlertKind.HIGH_HEART_RATE.value,
    "ectopy": AlertKind.ARRHYTHMIA.value,
    "fall_like": AlertKind.FALL_DETECTED.value,
    "cancelled_fall": AlertKind.FALL_DETECTED.value,
}
LABEL_TYPES = ALERT_LABELS + tuple(CONFOUNDER_LABELS)

#: Order of kinds that share a timestamp, so sorting is total and deterministic.
KIND_ORDER: dict[str, int] = {
    PayloadKind.RR: 0,
    PayloadKind.HR: 1,
    PayloadKind.ACCEL: 2,
    PayloadKind.PPG: 3,
    PayloadKind.ECG: 4,
    PayloadKind.EVENT: 5,
}

_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


@dataclass(frozen=True)
class Label:
    """One ground-truth interval (epoch ms, inclusive) of an injected event."""

    user: int
    type: str
    start_ms: int
    end_ms: int
    detail: str = ""

    def __post_init__(self) -> None:
        if self.type not in LABEL_TYPES:
            raise SimulatorError(f"label type {self.type!r} is not one of {LABEL_TYPES}")
        if self.end_ms < self.start_ms:
            raise SimulatorError(
                f"label {self.type} of user {self.user} ends ({self.end_ms}) before it "
                f"starts ({self.start_ms})"
            )


@dataclass(frozen=True)
class Contact:
    name: str
    phone: str
    relationship: str = ""
    primary: bool = False


@dataclass(frozen=True)
class UserEntry:
    """A user of a trace: id as used in the payloads, ``open_id`` for the app's users
    table, devices and emergency contacts."""

    user: int
    open_id: str
    name: str
    devices: tuple[str, ...]
    contacts: tuple[Contact, ...] = ()
    #: device id -> where it is worn (wrist, waist, chest, pocket); absent = unknown
    placements: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    """Header of a trace: time span, seed, users."""

    start_ms: int
    end_ms: int
    users: tuple[UserEntry, ...]
    seed: int | None = None
    source: str = "simulate"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def user_hours(self) -> float:
        """Observed user-hours (users × trace duration), the denominator of false alerts/h."""
        return len(self.users) * (self.end_ms - self.start_ms) / 3_600_000


def companion_paths(trace: Path) -> tuple[Path, Path]:
    """(labels path, users manifest path) next to ``trace``."""
    name = trace.name
    for suffix in (".jsonl.gz", ".jsonl", ".json.gz", ".gz"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return trace.with_name(f"{name}.labels.jsonl"), trace.with_name(f"{name}.users.json")


def open_binary_writer(path: Path, compresslevel: int = 6) -> IO[bytes]:
    """A binary file for writing; gzip (with a zero mtime and no name in the header, so the
    bytes depend only on the content) when ``path`` ends in ``.gz``."""
    raw = path.open("wb")
    if path.suffix == ".gz":
        gz = gzip.GzipFile(
            filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=compresslevel
        )
        return cast(IO[bytes], gz)
    return raw


def open_binary_reader(path: Path) -> IO[bytes]:
    if not path.exists():
        raise SimulatorError(f"trace {str(path)!r} does not exist")
    if path.suffix == ".gz":
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


class TraceWriter:
    """Writes payloads in the order given, assigning ``seq`` per device (1, 2, ...).

    Callers hand over payloads already sorted by ``ts`` (see :func:`sort_payloads`).
    A payload here is a dict with ``user, device, ts, kind`` and the kind's fields; the
    writer adds ``v`` and ``seq`` and fixes the key order of the contract.
    """

    def __init__(self, path: Path, compresslevel: int = 6) -> None:
        self.path = path
        self._file = open_binary_writer(path, compresslevel)
        self._seq: dict[str, int] = {}
        self._last_ts = -(2**62)
        self.lines = 0

    def write(self, payloads: Iterable[dict[str, Any]]) -> None:
        seq = self._seq
        dumps = orjson.dumps
        chunk: list[bytes] = []
        for p in payloads:
            device = p["device"]
            s = seq.get(device, 0) + 1
            seq[device] = s
            ts = p["ts"]
            if ts < self._last_ts:
                raise SimulatorError(f"payload ts {ts} written after ts {self._last_ts}")
            self._last_ts = ts
            out = {
                "v": 1,
                "user": p["user"],
                "device": device,
                "seq": s,
                "ts": ts,
                "kind": p["kind"],
            }
            out.update(p["fields"])
            chunk.append(dumps(out, option=_JSON_OPTIONS))
        if chunk:
            self._file.write(b"\n".join(chunk) + b"\n")
            self.lines += len(chunk)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_payload(user: int, device: str, ts: int, kind: str, **fields: Any) -> dict[str, Any]:
    """An unsequenced payload for :class:`TraceWriter`."""
    return {"user": user, "device": device, "ts": int(ts), "kind": kind, "fields": fields}


def sort_payloads(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sort by (ts, user, device, kind): publish order, deterministic on ties."""
    return sorted(
        payloads, key=lambda p: (p["ts"], p["user"], p["device"], KIND_ORDER.get(p["kind"], 9))
    )


def read_trace(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the payloads of a trace (plain or gzipped JSONL); blank lines are skipped."""
    with open_binary_reader(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                payload = orjson.loads(line)
            except orjson.JSONDecodeError as error:
                raise SimulatorError(f"{path}:{number}: not JSON ({error})") from error
            if not isinstance(payload, dict):
                raise SimulatorError(f"{path}:{number}: not a JSON object")
            yield payload


def write_labels(path: Path, labels: Iterable[Label]) -> None:
    """Write labels as JSONL (or CSV when ``path`` ends in ``.csv``), sorted by start."""
    ordered = sorted(labels, key=lambda lb: (lb.start_ms, lb.user, lb.type, lb.end_ms))
    if path.suffix == ".csv":
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["user", "type", "start_ms", "end_ms", "detail"])
            for lb in ordered:
                writer.writerow([lb.user, lb.type, lb.start_ms, lb.end_ms, lb.detail])
        return
    with path.open("wb") as fb:
        for lb in ordered:
            fb.write(orjson.dumps(asdict(lb)) + b"\n")


def read_labels(path: Path) -> list[Label]:
    """Read a label file (JSONL or CSV with header ``user,type,start_ms,end_ms[,detail]``)."""
    if not path.exists():
        raise SimulatorError(f"label file {str(path)!r} does not exist")
    rows: list[dict[str, Any]]
    text = path.read_text()
    if path.suffix == ".csv":
        rows = list(csv.DictReader(io.StringIO(text)))
    else:
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(orjson.loads(line))
                except orjson.JSONDecodeError as error:
                    raise SimulatorError(f"{path}:{number}: not JSON ({error})") from error
    labels = []
    for number, row in enumerate(rows, 1):
        try:
            labels.append(
                Label(
                    user=int(row["user"]),
                    type=str(row["type"]),
                    start_ms=int(row["start_ms"]),
                    end_ms=int(row["end_ms"]),
                    detail=str(row.get("detail") or ""),
                )
            )
        except (KeyError, TypeError, ValueError) as error:
            raise SimulatorError(f"{path}: label {number} {row!r} is invalid: {error}") from error
    return labels


def write_manifest(path: Path, manifest: Manifest) -> None:
    path.write_bytes(orjson.dumps(asdict(manifest), option=orjson.OPT_INDENT_2) + b"\n")


def read_manifest(path: Path) -> Manifest:
    """Read ``<stem>.users.json``; raise :class:`SimulatorError` naming what is wrong."""
    if not path.exists():
        raise SimulatorError(f"users manifest {str(path)!r} does not exist")
    try:
        data = orjson.loads(path.read_bytes())
        users = tuple(
            UserEntry(
                user=int(u["user"]),
                open_id=str(u["open_id"]),
                name=str(u["name"]),
                devices=tuple(str(d) for d in u["devices"]),
                contacts=tuple(Contact(**c) for c in u.get("contacts", ())),
                placements={str(k): str(v) for k, v in (u.get("placements") or {}).items()},
            )
            for u in data["users"]
        )
        return Manifest(
            start_ms=int(data["start_ms"]),
            end_ms=int(data["end_ms"]),
            users=users,
            seed=data.get("seed"),
            source=str(data.get("source", "")),
            meta=dict(data.get("meta") or {}),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise SimulatorError(f"users manifest {str(path)!r} is invalid: {error}") from error
