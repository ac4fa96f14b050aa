"""Fit the fall model reproducibly on the SisFall development trials.

Run ``python -m detectors.fit.fit_falls --data ../shared/data``. Every trial (200 Hz,
waist; ``sisfall-dev/SUBJECT/CODE_SUBJECT_Rnn.csv.gz``) is followed by ``HOLD_S`` of
its final posture and run through the fall state machine of :mod:`detectors.falls`
(:func:`~detectors.falls.fall_candidates`), which scores a candidate at every low-g dip
followed by an impact. The rows are the :data:`~detectors.falls.FALL_FEATURES` of those
candidates: in a fall trial the candidate with the largest impact is the fall (label 1),
its other candidates are left out (they may be the fall's own bounces); every candidate
of an activity trial is a non-fall (label 0). An L2-regularised logistic regression
(IRLS, as :mod:`detectors.fit.fit_rhythm`) gives ``fall_weights``/``fall_bias``; the
threshold is the probability that maximises the smaller of trial sensitivity and trial
specificity on the fitting trials.

It prints the weights for :class:`~detectors.config.DetectorConfig` and the
subject-wise cross-validated trial sensitivity/specificity of the detector function
(the pipeline figures come from ``python -m simulators.evaluate_falls``).
"""

from __future__ import annotations

import argparse
import gzip
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.signal import resample_poly

from detectors.config import DEFAULT, DetectorConfig
from detectors.falls import fall_candidates, fall_probability
from detectors.fit.fit_rhythm import fit_logistic

FS_HZ = 200.0
COUNTS_TO_G = 32.0 / 8192.0  # ADXL345, 13 bits over ±16 g (SisFall)
HOLD_S = 10.0
HOLD_NOISE_G = 0.004
L2 = 1.0
FOLDS = 6
_NAME = re.compile(r"([DF]\d\d)_(S[AE]\d\d)_R(\d\d)\.(?:txt|csv)(?:\.gz)?")

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class FallModel:
    weights: tuple[float, ...]
    bias: float
    threshold: float

    def config(self, base: DetectorConfig = DEFAULT) -> DetectorConfig:
        return replace(
            base, fall_weights=self.weights, fall_bias=self.bias, fall_threshold=self.threshold
        )


def trial_files(data: Path) -> list[Path]:
    """``sisfall-dev`` trial files under ``data`` (the folder itself or its parent)."""
    root = data / "sisfall-dev" if (data / "sisfall-dev").is_dir() else data
    files = sorted(p for p in root.glob("*/*") if _NAME.fullmatch(p.name))
    if not files:
        raise SystemExit(f"no SisFall trials under {root}")
    return files


def subject_of(trial: str) -> str:
    return trial.split("_")[1]


def read_counts(path: Path) -> FloatArray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:
        text = handle.read().replace(";", "")
    counts = np.loadtxt(text.splitlines(), delimiter=",", ndmin=2)
    return np.asarray(counts[:, :3] * COUNTS_TO_G, dtype=np.float64)


def with_hold(xyz_g: FloatArray, hold_s: float = HOLD_S, seed: int = 0) -> FloatArray:
    """The trial followed by its final posture (mean of the last second, plus noise)."""
    n = round(hold_s * FS_HZ)
    last = xyz_g[-round(FS_HZ) :].mean(axis=0)
    noise = np.random.default_rng(seed).normal(0.0, HOLD_NOISE_G, size=(n, 3))
    return np.vstack([xyz_g, last[None, :] + noise])


def trial_candidates(
    files: Sequence[Path], config: DetectorConfig = DEFAULT, fs_hz: float = FS_HZ
) -> dict[str, FloatArray]:
    """Candidate features of every trial (name ``F01_SA01_R01`` -> (k, 4)), the trials
    resampled to ``fs_hz`` first when it is not the native 200 Hz (polyphase filter)."""
    out = {}
    for k, path in enumerate(files):
        xyz = with_hold(read_counts(path), seed=k)
        if fs_hz != FS_HZ:
            xyz = resample_poly(xyz, round(fs_hz), round(FS_HZ), axis=0)
        name = path.name.split(".")[0]
        out[name] = fall_candidates(fs_hz, xyz[:, 0], xyz[:, 1], xyz[:, 2], config)
    return out


def training_rows(cands: Mapping[str, FloatArray]) -> tuple[FloatArray, NDArray[np.int64]]:
    rows: list[FloatArray] = []
    labels: list[int] = []
    for name, feats in cands.items():
        if not len(feats):
            continue
        if name.startswith("F"):
            rows.append(feats[int(np.argmax(feats[:, 0]))][None, :])
            labels.append(1)
        else:
            rows.append(feats)
            labels += [0] * len(feats)
    return np.vstack(rows), np.asarray(labels, dtype=np.int64)


def trial_scores(cands: Mapping[str, FloatArray], config: DetectorConfig) -> dict[str, float]:
    """Highest candidate probability per trial (0 without candidates)."""
    return {
        name: float(np.max(fall_probability(f, config))) if len(f) else 0.0
        for name, f in cands.items()
    }


def sensitivity_specificity(scores: Mapping[str, float], threshold: float) -> tuple[float, float]:
    falls = [s > threshold for n, s in scores.items() if n.startswith("F")]
    acts = [s <= threshold for n, s in scores.items() if n.startswith("D")]
    return float(np.mean(falls)) if falls else float("nan"), (
        float(np.mean(acts)) if acts else float("nan")
    )


def fit_model(cands: Mapping[str, FloatArray], l2: float = L2) -> FallModel:
    x, y = training_rows(cands)
    w, b = fit_logistic(x, y, l2)
    model = FallModel(tuple(round(float(v), 4) for v in w), round(b, 4), 0.5)
    scores = trial_scores(cands, model.config())
    best = max(
        (min(sensitivity_specificity(scores, t)), -abs(t - 0.5), t)
        for t in np.round(np.arange(0.05, 0.951, 0.01), 2)
    )
    return replace(model, threshold=float(best[2]))


def subject_folds(subjects: Sequence[str], k: int = FOLDS) -> list[list[str]]:
    """Leave-subjects-out folds: sorted subjects dealt round-robin into ``k`` folds."""
    ordered = sorted(set(subjects))
    return [ordered[i::k] for i in range(min(k, len(ordered)))]


def cross_validate(
    cands: Mapping[str, FloatArray],
    k: int = FOLDS,
    test_cands: Mapping[str, FloatArray] | None = None,
) -> dict[str, float]:
    """Verdict (1.0 fall / 0.0) on each trial from the model fitted without its subject's
    fold; ``test_cands`` (e.g. the same trials at another sampling rate) are scored
    instead of ``cands`` when given."""
    folds = subject_folds([subject_of(n) for n in cands], k)
    scored: dict[str, float] = {}
    tested = cands if test_cands is None else test_cands
    for held in folds:
        train = {n: f for n, f in cands.items() if subject_of(n) not in held}
        model = fit_model(train)
        test = {n: f for n, f in tested.items() if subject_of(n) in held}
        for name, score in trial_scores(test, model.config()).items():
            scored[name] = float(score > model.threshold)
    return scored


def main(argv: Sequence[str] | None = None) -> FallModel:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument(
        "--rates",
        type=float,
        nargs="*",
        default=[],
        metavar="HZ",
        help="also score the cross-validated models on the trials resampled to these rates",
    )
    args = parser.parse_args(argv)
    files = trial_files(args.data)
    cands = trial_candidates(files)
    model = fit_model(cands)
    print(f"fall_weights: tuple[float, ...] = {model.weights}")
    print(f"fall_bias: float = {model.bias}")
    print(f"fall_threshold: float = {model.threshold}")
    sens, spec = sensitivity_specificity(trial_scores(cands, model.config()), model.threshold)
    print(f"on the fitting trials: sensitivity {sens:.3f}, specificity {spec:.3f}")
    cv = cross_validate(cands)
    sens, spec = sensitivity_specificity(cv, 0.5)
    print(f"{FOLDS}-fold leave-subjects-out: sensitivity {sens:.3f}, specificity {spec:.3f}")
    for fs_hz in args.rates:
        resampled = trial_candidates(files, fs_hz=fs_hz)
        sens, spec = sensitivity_specificity(cross_validate(cands, test_cands=resampled), 0.5)
        print(
            f"  same folds, trials at {fs_hz:g} Hz: sensitivity {sens:.3f}, specificity {spec:.3f}"
        )
    return model


if __name__ == "__main__":
    main()
