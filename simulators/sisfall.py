"""SisFall trials (falls and daily activities, 200 Hz accelerometer at the waist) as traces.

SisFall: Sucerquia, López, Vargas-Bonilla, *SisFall: A Fall and Movement Dataset*,
Sensors 17(1):198, 2017. A trial file ``CODE_SUBJECT_Rnn.txt`` holds one line per sample
at 200 Hz with nine comma-separated integer columns ending in ``;`` (ADXL345
accelerometer x, y, z; ITG3200 gyroscope x, y, z; MMA8451Q accelerometer x, y, z). The
development copy ``CODE_SUBJECT_Rnn.csv.gz`` keeps the first three columns. Only those
three are read, in ADXL345 counts (13 bits over ±16 g): ``g = counts × 32 / 8192``.

:func:`import_sisfall` turns every trial into one wearer of one trace: its ``accel``
stream at the native 200 Hz in 1 s payloads, then its final posture held still for
``hold_s`` (a person stays where a fall or an activity left them; the mean of the last
second plus sensor-level noise), with labels -- a fall trial is a ``fall_detected`` event,
an activity a ``fall_like`` confounder, each with the trial name (``F01_SA01_R01``) as
detail -- and a users manifest, so ``vitals replay --register`` and ``vitals score`` work
on it unchanged. All trials start at the same reading time (many wearers at once).
"""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from simulators.errors import SimulatorError
from simulators.payloads import sample_payloads
from simulators.plan import parse_time
from simulators.trace_io import (
    Label,
    Manifest,
    TraceWriter,
    UserEntry,
    companion_paths,
    write_labels,
    write_manifest,
)

FS_HZ = 200.0
#: ADXL345 at ±16 g, 13 bits: 32 g over 8192 counts (SisFall README).
COUNTS_TO_G = 32.0 / 8192.0
#: Column counts of the published files (9) and of the development copy (3).
COLUMNS = (3, 9)
DEFAULT_START = "2025-01-15T08:00:00Z"
#: Noise added to the held final posture: about one ADXL345 count (3.9 mg at ±16 g).
HOLD_NOISE_G = 0.004
#: The SisFall device was fixed to the waist (belt buckle).
PLACEMENT = "waist"

#: Trial codes (Sucerquia et al. 2017, tables 1 and 2).
CODES = {
    "D01": "walking slowly",
    "D02": "walking quickly",
    "D03": "jogging slowly",
    "D04": "jogging quickly",
    "D05": "walking upstairs and downstairs slowly",
    "D06": "walking upstairs and downstairs quickly",
    "D07": "slowly sit in a half-height chair, wait, get up slowly",
    "D08": "quickly sit in a half-height chair, wait, get up quickly",
    "D09": "slowly sit in a low chair, wait, get up slowly",
    "D10": "quickly sit in a low chair, wait, get up quickly",
    "D11": "sitting, try to get up, collapse into the chair",
    "D12": "sitting, lie down slowly, wait, sit up",
    "D13": "sitting, lie down quickly, wait, sit up",
    "D14": "lying on the back, turn to the side, wait, back",
    "D15": "standing, bend at the knees, get up",
    "D16": "standing, bend without bending the knees, get up",
    "D17": "standing, get into a car, remain seated, get out",
    "D18": "stumble while walking",
    "D19": "gently jump without falling (reaching up)",
    "F01": "fall forward while walking (slip)",
    "F02": "fall backward while walking (slip)",
    "F03": "lateral fall while walking (slip)",
    "F04": "fall forward while walking (trip)",
    "F05": "fall forward while jogging (trip)",
    "F06": "vertical fall while walking (fainting)",
    "F07": "fall while walking, hands on a table dampen it (fainting)",
    "F08": "fall forward when trying to get up",
    "F09": "lateral fall when trying to get up",
    "F10": "fall forward when trying to sit down",
    "F11": "fall backward when trying to sit down",
    "F12": "lateral fall when trying to sit down",
    "F13": "fall forward while sitting (fainting or falling asleep)",
    "F14": "fall backward while sitting (fainting or falling asleep)",
    "F15": "lateral fall while sitting (fainting or falling asleep)",
}

_NAME = re.compile(
    r"(?P<code>[DF]\d\d)_(?P<subject>S[AE]\d\d)_R(?P<rep>\d\d)\.(?:txt|csv)(?:\.gz)?"
)


@dataclass(frozen=True)
class TrialName:
    """``F01_SA01_R01``: activity/fall code, subject, repetition."""

    code: str
    subject: str
    repetition: int

    @property
    def is_fall(self) -> bool:
        return self.code.startswith("F")

    def __str__(self) -> str:
        return f"{self.code}_{self.subject}_R{self.repetition:02d}"


@dataclass(frozen=True)
class Trial:
    name: TrialName
    path: Path
    xyz_g: NDArray[np.float64]  # (n, 3)

    @property
    def duration_s(self) -> float:
        return int(self.xyz_g.shape[0]) / FS_HZ


def parse_trial_name(path: Path) -> TrialName:
    """The code, subject and repetition in a SisFall file name."""
    match = _NAME.fullmatch(path.name)
    if match is None:
        raise SimulatorError(
            f"{path.name!r} is not a SisFall trial name (CODE_SUBJECT_Rnn.txt or .csv.gz, "
            "e.g. F01_SA01_R01.txt)"
        )
    return TrialName(match["code"], match["subject"], int(match["rep"]))


def read_trial(path: Path) -> Trial:
    """One trial's first accelerometer (ADXL345) in g, from a 3- or 9-column file."""
    name = parse_trial_name(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                raw = handle.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError) as error:
        raise SimulatorError(f"SisFall trial {str(path)!r} cannot be read: {error}") from error
    text = raw.decode("ascii", errors="replace").replace(";", "")
    if not text.strip():
        raise SimulatorError(f"SisFall trial {str(path)!r} has no samples")
    try:
        counts = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError as error:
        raise SimulatorError(f"SisFall trial {str(path)!r}: {error}") from error
    if counts.shape[0] == 0:
        raise SimulatorError(f"SisFall trial {str(path)!r} has no samples")
    if counts.shape[1] not in COLUMNS:
        raise SimulatorError(
            f"SisFall trial {str(path)!r} has {counts.shape[1]} columns, expected 3 (x,y,z) "
            "or 9 (the published files)"
        )
    return Trial(name, path, counts[:, :3] * COUNTS_TO_G)


def find_trials(
    root: Path, *, subjects: Iterable[str] | None = None, codes: Iterable[str] | None = None
) -> list[Path]:
    """Trial files under ``root`` (one folder per subject, or flat), sorted by name.

    ``subjects`` (``SA01``...) and ``codes`` (``F01``, ``D07``...) restrict the selection.
    """
    if not root.is_dir():
        raise SimulatorError(f"SisFall folder {str(root)!r} does not exist")
    wanted_subjects = None if subjects is None else {s.upper() for s in subjects}
    wanted_codes = None if codes is None else {c.upper() for c in codes}
    found = []
    for path in sorted({*root.glob("*/*_*_R*"), *root.glob("*_*_R*")}):
        if not _NAME.fullmatch(path.name):
            continue
        name = parse_trial_name(path)
        if wanted_subjects is not None and name.subject not in wanted_subjects:
            continue
        if wanted_codes is not None and name.code not in wanted_codes:
            continue
        found.append(path)
    return sorted(found, key=lambda p: (parse_trial_name(p).subject, p.name))


class _Stream:
    """One trial's samples followed by its held final posture, served one second at a
    time (the hold is generated per second, so a long import never holds it all)."""

    def __init__(self, trial: Trial, index: int, hold_s: float, noise_g: float) -> None:
        self.xyz = trial.xyz_g
        self.index = index
        self.noise_g = noise_g
        self.final = trial.xyz_g[-round(FS_HZ) :].mean(axis=0)
        self.total = int(self.xyz.shape[0]) + round(hold_s * FS_HZ)

    @property
    def seconds(self) -> int:
        return -(-self.total // _PER_S)

    def second(self, s: int) -> NDArray[np.float64]:
        lo, hi = s * _PER_S, min((s + 1) * _PER_S, self.total)
        n_rec = int(self.xyz.shape[0])
        if hi <= n_rec:
            return np.asarray(self.xyz[lo:hi], dtype=np.float64)
        rng = np.random.default_rng((self.index, s))
        held = self.final[None, :] + rng.normal(0.0, self.noise_g, size=(_PER_S, 3))
        if lo >= n_rec:
            return np.asarray(held[: hi - lo], dtype=np.float64)
        return np.vstack([self.xyz[lo:n_rec], held[: hi - n_rec]])


_PER_S = round(FS_HZ)


@dataclass(frozen=True)
class SisfallImport:
    trace: Path
    lines: int
    trials: tuple[TrialName, ...]
    users: tuple[int, ...]
    labels: tuple[Label, ...]


def device_id(name: TrialName) -> str:
    return f"sisfall-{str(name).lower()}"


def import_sisfall(
    root: Path,
    out: Path,
    *,
    hold_s: float = 120.0,
    first_user: int = 1,
    start_ms: int | None = None,
    subjects: Iterable[str] | None = None,
    codes: Iterable[str] | None = None,
    paths: Sequence[Path] | None = None,
    compresslevel: int = 6,
) -> SisfallImport:
    """Write the trials under ``root`` (or the given ``paths``) as one trace at ``out``.

    Trial ``k`` (in file-name order) is user ``first_user + k`` with one device
    (``sisfall-f01_sa01_r01``). Labels: ``fall_detected`` over a fall trial's recording,
    ``fall_like`` over an activity's recording and hold; detail is the trial name.
    """
    if hold_s < 0:
        raise SimulatorError(f"hold of {hold_s} s is negative")
    files = list(paths) if paths is not None else find_trials(root, subjects=subjects, codes=codes)
    if not files:
        raise SimulatorError(f"no SisFall trials found under {str(root)!r}")
    start = parse_time(DEFAULT_START) if start_ms is None else start_ms
    labels: list[Label] = []
    entries: list[UserEntry] = []
    streams: list[tuple[int, str, _Stream]] = []
    end_ms = start
    for k, path in enumerate(files):
        trial = read_trial(path)
        user = first_user + k
        stream = _Stream(trial, k, hold_s, HOLD_NOISE_G)
        streams.append((user, device_id(trial.name), stream))
        recorded_end = start + round(trial.duration_s * 1000)
        trace_end = start + round(stream.total * 1000 / FS_HZ)
        kind = "fall_detected" if trial.name.is_fall else "fall_like"
        labels.append(
            Label(
                user,
                kind,
                start,
                recorded_end if trial.name.is_fall else trace_end,
                str(trial.name),
            )
        )
        device = streams[-1][1]
        entries.append(
            UserEntry(
                user,
                f"sisfall-{user}",
                f"SisFall {trial.name}",
                (device,),
                placements={device: PLACEMENT},
            )
        )
        end_ms = max(end_ms, trace_end)
    with TraceWriter(out, compresslevel) as writer:
        for s in range(max(stream.seconds for _, _, stream in streams)):
            block = []
            for user, device, stream in streams:
                if s < stream.seconds:
                    xyz = stream.second(s)
                    block += sample_payloads(
                        user,
                        device,
                        "accel",
                        start_ms=start + s * 1000,
                        fs_hz=FS_HZ,
                        channels={"x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2]},
                        batch_ms=1000,
                    )
            writer.write(block)
        lines = writer.lines
    labels_path, manifest_path = companion_paths(out)
    write_labels(labels_path, labels)
    write_manifest(
        manifest_path,
        Manifest(start, end_ms, tuple(entries), None, f"sisfall:{root.name}", {"hold_s": hold_s}),
    )
    names = tuple(parse_trial_name(path) for path in files)
    return SisfallImport(out, lines, names, tuple(e.user for e in entries), tuple(labels))
