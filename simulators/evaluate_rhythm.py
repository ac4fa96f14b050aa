"""Rhythm verdicts on the real CinC 2017 strips, through the pipeline, cross-validated.

Run ``python -m simulators.evaluate_rhythm --data ../shared/data`` (``--per-class 20``
for a quick subset). Every strip of ``cinc2017-dev`` (300 Hz single-lead ECG, labelled
N normal, A atrial fibrillation, O other rhythm, ``~`` too noisy) is replayed through
the transport-free pipeline core (:class:`ingest.engine.Engine`, which the runner, the
replay and the Faust worker all drive) twice:

- ``ecg``: as the 1 s ``ecg`` payloads a handheld device would publish, encoded as JSON
  and decoded by :func:`ingest.payload.decode` exactly as from MQTT;
- ``rr``: as the ``rr`` payloads of the beats detected in the strip (5 s batches), as a
  device that sends its own beat intervals would: no waveform quality gate applies.

One process, no parallelism (the box is shared): about a minute of CPU for the 1,700
strips; ``--per-class 4 --folds 2`` takes seconds (the tests use it).

Each strip is its own user and starts at a seeded random offset within a minute, so
strips straddle the 60 s window boundaries as real recordings do. A strip's verdict is
*irregular* when any of its windows is stored with ``arrhythmiaDetected`` true,
*regular* when it has verdicts and none is irregular, *unreadable* when every window
stores NULL (or no row is stored at all).

The rhythm model is scored with record-wise k-fold cross-validation: the strips are
split into folds by record (seeded, stratified by label); for each fold both rhythm
models and their operating points are refitted (:func:`detectors.fit.fit_rhythm.fit_models`:
the RR model on the seeded synthetic windows plus the real beats of the *other* folds'
strips, the RR + atrial-activity model used by the engine for windows of one raw ECG
segment on those real strips only, each bias moved to the operating point chosen on
those training strips), and the fold's strips are replayed with them. ``rr`` payloads
carry no waveform, so that mode measures the RR-only model. The shipped weights
(``DetectorConfig``) are the ones fitted on every strip and are not what is scored here.

Per class the report gives the strips with a verdict, the share flagged irregular (AF)
among all strips, and the challenge score: F1 of N, A and O (``~`` is a class, not
scored) with the pipeline's outcome mapped to irregular -> A, regular -> N, unreadable
-> ``~``. The pipeline has no "other rhythm" outcome, so the O F1 is 0 by construction
and the challenge mean is at most 2/3; the AF-vs-rest F1 is reported beside it.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import wfdb
from numpy.typing import NDArray

from detectors.beats import BeatExtraction, beats_from_ecg
from detectors.config import DEFAULT
from detectors.fit.fit_rhythm import fit_models, judged
from ingest.engine import Engine, EngineConfig
from ingest.payload import decode
from simulators.payloads import rr_payloads, sample_payloads

CLASSES = ("N", "A", "O", "~")
DATASET = "cinc2017-dev"
BASE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a whole minute
SEED = 20261201
FOLDS = 5
DEVICE = "alivecor-1"
_JSON = orjson.OPT_SERIALIZE_NUMPY


@dataclass(frozen=True)
class Strip:
    record: str
    label: str
    ecg_mv: NDArray[np.float64]
    fs_hz: float


@dataclass(frozen=True)
class ClassResult:
    strips: int
    verdicts: int
    flagged: int


@dataclass(frozen=True)
class ModeResult:
    """Outcome counts per class for one way of feeding the pipeline (ecg or rr)."""

    per_class: dict[str, ClassResult]
    f1: dict[str, float]  # N, A, O, challenge (mean of the three), af (AF vs rest)


def load_strips(data: Path, per_class: int | None = None, seed: int = SEED) -> list[Strip]:
    """The labelled strips of ``data/cinc2017-dev`` (``per_class``: a seeded subset).

    Raises FileNotFoundError naming the missing folder or reference file.
    """
    folder = data / DATASET
    reference = folder / "REFERENCE.csv"
    if not reference.is_file():
        raise FileNotFoundError(f"{reference} not found: --data must hold {DATASET}/")
    rows = [line.split(",") for line in reference.read_text().split()]
    labels = {record: label for record, label in rows}
    records = sorted(labels)
    if per_class is not None:
        rng = np.random.default_rng(seed)
        chosen: list[str] = []
        for label in CLASSES:
            of_class = [r for r in records if labels[r] == label]
            take = min(per_class, len(of_class))
            chosen += [of_class[i] for i in rng.choice(len(of_class), take, replace=False)]
        records = sorted(chosen)
    return load_records(data, records)


def load_records(data: Path, records: Sequence[str]) -> list[Strip]:
    """The named strips of ``data/cinc2017-dev`` with their labels.

    Raises FileNotFoundError naming the missing reference file, KeyError naming a record
    that ``REFERENCE.csv`` does not list.
    """
    folder = data / DATASET
    reference = folder / "REFERENCE.csv"
    if not reference.is_file():
        raise FileNotFoundError(f"{reference} not found: --data must hold {DATASET}/")
    labels = dict(line.split(",") for line in reference.read_text().split())
    strips = []
    for record in records:
        if record not in labels:
            raise KeyError(f"record {record!r} is not in {reference}")
        signal = wfdb.rdrecord(str(folder / record))
        strips.append(
            Strip(record, labels[record], signal.p_signal[:, 0].astype(np.float64), signal.fs)
        )
    return strips


def strip_start_ms(index: int, seed: int = SEED) -> int:
    """Seeded start of strip ``index``: any ms of a minute, an hour apart per strip."""
    offset = int(np.random.default_rng([seed, index]).integers(0, 60_000))
    return BASE_MS + index * 3_600_000 + offset


def ecg_lines(strip: Strip, user: int, start_ms: int) -> list[bytes]:
    """The strip as 1 s ``ecg`` payloads (JSON bytes, as published over MQTT)."""
    payloads = sample_payloads(
        user, DEVICE, "ecg", start_ms=start_ms, fs_hz=strip.fs_hz, channels={"values": strip.ecg_mv}
    )
    return _encoded(payloads)


def rr_lines(beat_ms: NDArray[np.int64], user: int) -> list[bytes]:
    """Detected beats as ``rr`` payloads (5 s batches, as a device sends them)."""
    return _encoded(rr_payloads(user, DEVICE, beat_ms))


def _encoded(payloads: list[dict[str, object]]) -> list[bytes]:
    out = []
    for seq, p in enumerate(payloads, 1):
        body = {"v": 1, "user": p["user"], "device": p["device"], "seq": seq, "ts": p["ts"]}
        body["kind"] = p["kind"]
        body.update(p["fields"])  # type: ignore[call-overload]
        out.append(orjson.dumps(body, option=_JSON))
    return out


def pipeline_outcome(lines: Sequence[bytes], config: EngineConfig) -> str:
    """Replay one strip's payloads through a fresh engine: ``A`` (some window irregular),
    ``N`` (verdicts, none irregular) or ``~`` (no verdict: unreadable)."""
    engine = Engine(config)
    effects = engine.process([decode(None, line) for line in lines])
    effects.extend(engine.flush())
    verdicts = [s.arrhythmia for s in effects.summaries if s.arrhythmia is not None]
    if not verdicts:
        return "~"
    return "A" if any(verdicts) else "N"


def detected_beats(strip: Strip, start_ms: int) -> BeatExtraction:
    """Beats detected in the whole strip, as the engine finds them."""
    return beats_from_ecg(strip.ecg_mv, strip.fs_hz, start_ms)


def folds_of(strips: Sequence[Strip], k: int = FOLDS, seed: int = SEED) -> NDArray[np.int64]:
    """Fold number of each strip: seeded, stratified by label, one record in one fold."""
    fold = np.zeros(len(strips), dtype=np.int64)
    rng = np.random.default_rng(seed)
    for label in CLASSES:
        idx = np.flatnonzero([s.label == label for s in strips])
        fold[idx[rng.permutation(idx.size)]] = np.arange(idx.size) % k
    return fold


def evaluate(
    strips: Sequence[Strip], *, folds: int = FOLDS, seed: int = SEED
) -> dict[str, ModeResult]:
    """Cross-validated outcomes of every strip fed as ``ecg`` and as ``rr``."""
    starts = [strip_start_ms(i, seed) for i in range(len(strips))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        beats = [detected_beats(s, t) for s, t in zip(strips, starts, strict=True)]
    fold = folds_of(strips, folds, seed)
    labels = np.array([s.label for s in strips])
    outcomes: dict[str, list[str]] = {"ecg": [""] * len(strips), "rr": [""] * len(strips)}
    for k in range(folds):
        train = [
            i
            for i in map(int, np.flatnonzero(fold != k))
            if labels[i] != "~" and judged(beats[i].rr_ms, beats[i].quality_ok)
        ]
        atrial_train = np.array([beats[i].atrial for i in train]).reshape(len(train), -1)
        models = fit_models([beats[i].rr_ms for i in train], atrial_train, labels[train])
        detector = models.config(DEFAULT)
        config = EngineConfig(detector=detector)
        for i in map(int, np.flatnonzero(fold == k)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                outcomes["ecg"][i] = pipeline_outcome(
                    ecg_lines(strips[i], i + 1, starts[i]), config
                )
            outcomes["rr"][i] = pipeline_outcome(rr_lines(beats[i].beat_ms, i + 1), config)
    return {mode: summarize(labels, np.array(out)) for mode, out in outcomes.items()}


def summarize(labels: NDArray[np.str_], outcome: NDArray[np.str_]) -> ModeResult:
    """Per-class counts and the challenge F1 (outcome A/N/~ against labels N/A/O/~)."""
    per_class = {
        c: ClassResult(
            strips=int(np.sum(labels == c)),
            verdicts=int(np.sum((labels == c) & (outcome != "~"))),
            flagged=int(np.sum((labels == c) & (outcome == "A"))),
        )
        for c in CLASSES
    }
    f1 = {c: _f1(labels == c, outcome == c) for c in ("N", "A", "O")}
    f1["challenge"] = (f1["N"] + f1["A"] + f1["O"]) / 3.0
    f1["af"] = f1["A"]
    return ModeResult(per_class, f1)


def _f1(truth: NDArray[np.bool_], called: NDArray[np.bool_]) -> float:
    """CinC 2017 F1 of one class: 2·both / (truth + called)."""
    denominator = int(truth.sum() + called.sum())
    return 2.0 * int(np.sum(truth & called)) / denominator if denominator else 0.0


def format_report(results: dict[str, ModeResult]) -> str:
    """A Markdown table per mode."""
    lines = []
    for mode, result in results.items():
        lines.append(f"\n{mode} payloads through the pipeline (record-wise {FOLDS}-fold CV):")
        lines.append("| class | strips | verdict | flagged AF |")
        lines.append("|---|---|---|---|")
        for c, r in result.per_class.items():
            share = f"{r.verdicts}/{r.strips} ({r.verdicts / max(r.strips, 1):.1%})"
            flag = f"{r.flagged}/{r.strips} ({r.flagged / max(r.strips, 1):.1%})"
            lines.append(f"| {c} | {r.strips} | {share} | {flag} |")
        f = result.f1
        lines.append(
            f"F1 N {f['N']:.3f}, A {f['A']:.3f}, O {f['O']:.3f} (no O outcome); "
            f"challenge mean {f['challenge']:.3f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, ModeResult]:
    """Parse arguments, evaluate, print the tables and return the results."""
    parser = argparse.ArgumentParser(prog="python -m simulators.evaluate_rhythm")
    parser.add_argument("--data", type=Path, required=True, help="folder holding cinc2017-dev/")
    parser.add_argument("--per-class", type=int, default=None, help="seeded subset per class")
    parser.add_argument("--folds", type=int, default=FOLDS)
    args = parser.parse_args(argv)
    strips = load_strips(args.data, args.per_class)
    results = evaluate(strips, folds=args.folds)
    print(format_report(results))
    return results


if __name__ == "__main__":
    main()
