"""Fit the rhythm logistic model reproducibly on seeded synthetic and real windows.

Run ``python -m detectors.fit.fit_rhythm --data ../shared/data``: it generates training
windows (seed ``TRAIN_SEED``) of sinus/RSA, sinus + PVC/PAC ectopy (2-15 % burden), bigeminy (a
quarter as many) and AF
(CV 0.10-0.30, 70-150 bpm), 40-120 beats each, adds the beats that
:func:`detectors.beats.beats_from_ecg` finds in the real CinC 2017 strips of
``DATA/cinc2017-dev`` (N and O labelled not AF, A labelled AF; ``~`` and strips that fail
the quality gate or have too few beats for a verdict are left out, as the pipeline gives
them none), fits an L2-regularised logistic regression by Newton-Raphson (IRLS) on
standardised features, prints the weights for ``DetectorConfig.rhythm_weights`` /
``rhythm_bias`` and the per-class accuracy on an independent synthetic test set (seed
``TEST_SEED``). Without ``--data`` only the synthetic windows are used. The real-strip
accuracy of weights fitted this way is measured with record-wise cross-validation by
``python -m simulators.evaluate_rhythm``.

With ``--data`` it also fits the second model, ``DetectorConfig.rhythm_atrial_weights`` /
``rhythm_atrial_bias``: the RR model's logit (capped at ±5) plus the four atrial-activity
features of :func:`detectors.beats.atrial_features`, on the judged real strips only (the
synthetic windows have no waveform), with a lighter L2 penalty (``L2_ATRIAL``): the RR
model's logit (capped at ±5), the four atrial features and the RR features themselves.

Operating points. Each model's bias is then moved (:func:`operating_shift`) so that its
0.5 probability (``rhythm_threshold``) flags at most ``OPERATING_OTHER`` (8 %) of the
training "other rhythm" strips and ``OPERATING_NORMAL`` (1.5 %) of the normal ones, the
point of highest AF sensitivity within those limits. The limits are the issue's targets
(O flagged ≤ 10 %, N ≤ 2 %, issue #16) less a margin for the optimism of a point chosen on
the strips it is fitted on (in record-wise cross-validation the held-out O share came
out 0.5-1.5 points above the training one). The operating point is chosen on the
training strips only: ``python -m simulators.evaluate_rhythm`` refits all of this per
fold with :func:`fit_models`.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.io import loadmat

from detectors.beats import beats_from_ecg
from detectors.config import DEFAULT, DetectorConfig
from detectors.fit.synthetic import add_ectopy, af_rr, bigeminy, sinus_rr
from detectors.rhythm import (
    ATRIAL_FEATURES,
    ATRIAL_MODEL_INPUTS,
    RHYTHM_FEATURES,
    atrial_model_inputs,
    features_from_rr,
    irregular_probability,
)

TRAIN_SEED = 20240601
TEST_SEED = 20240602
L2 = 10.0
L2_ATRIAL = 1.0
#: share of the training "other rhythm" / normal strips the operating point may flag
OPERATING_OTHER = 0.08
OPERATING_NORMAL = 0.015
#: synthetic bigeminy windows among the ECG model's negatives (:func:`alternating_windows`)
ALTERNATING = 300
N_SYNTHETIC = 8000
CINC_FS_HZ = 300.0

FloatArray = NDArray[np.float64]


def make_dataset(seed: int, n_per_class: int) -> tuple[FloatArray, NDArray[np.int64], list[str]]:
    """RR windows (NaN-padded), labels (1 = AF) and class names per row."""
    rng = np.random.default_rng(seed)
    rows: list[FloatArray] = []
    labels: list[int] = []
    names: list[str] = []
    for k in (40, 64, 90, 120):
        m = n_per_class // 4
        sinus = sinus_rr(rng, m, k, rsa_frac=(0.01, 0.10))
        ectopy = add_ectopy(rng, sinus_rr(rng, m, k, rsa_frac=(0.01, 0.10)))
        alternating = bigeminy(rng, sinus_rr(rng, m // 4, k, rsa_frac=(0.01, 0.10)))
        af = af_rr(rng, m, k, cv=(0.10, 0.30))
        blocks = ((sinus, 0, "sinus"), (ectopy, 0, "ectopy"), (alternating, 0, "bigeminy"))
        for block, label, name in (*blocks, (af, 1, "af")):
            pad = np.full((block.shape[0], 120), np.nan)
            pad[:, :k] = block
            rows.append(pad)
            labels += [label] * block.shape[0]
            names += [name] * block.shape[0]
    return np.vstack(rows), np.asarray(labels, np.int64), names


def fit_logistic(x: FloatArray, y: NDArray[np.int64], l2: float = L2) -> tuple[FloatArray, float]:
    """L2 logistic regression by IRLS; returns weights and bias on the raw feature scale."""
    mu, sd = x.mean(axis=0), x.std(axis=0)
    z = np.column_stack([(x - mu) / sd, np.ones(len(x))])
    beta = np.zeros(z.shape[1])
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-z @ beta))
        grad = z.T @ (p - y) + l2 * np.r_[beta[:-1], 0.0]
        hess = (z * (p * (1 - p))[:, None]).T @ z + l2 * np.diag(np.r_[np.ones(len(mu)), 0.0])
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    w = beta[:-1] / sd
    b = float(beta[-1] - np.sum(beta[:-1] * mu / sd))
    return w, b


def evaluate(
    config: DetectorConfig, seed: int = TEST_SEED, n_per_class: int = 4000
) -> dict[str, float]:
    """Share of windows called irregular per class on a fresh seeded set."""
    rr, _, names = make_dataset(seed, n_per_class)
    p = irregular_probability(features_from_rr(rr, config), config)
    called = p > config.rhythm_threshold
    arr = np.asarray(names)
    return {
        name: float(called[arr == name].mean()) for name in ("sinus", "ectopy", "bigeminy", "af")
    }


def fit_weights(
    real_rr_ms: Sequence[FloatArray],
    real_af: NDArray[np.bool_],
    n_synthetic: int = N_SYNTHETIC,
) -> tuple[tuple[float, ...], float]:
    """Weights and bias (rounded as shipped) fitted on the synthetic plus the real windows.

    Parameters
    ----------
    real_rr_ms : sequence of ndarray of float64
        RR intervals (ms) of each real window; may be empty.
    real_af : ndarray of bool
        True for the real windows labelled AF.
    n_synthetic : int
        Synthetic windows per class (sinus, ectopy, AF) from seed ``TRAIN_SEED``.
    """
    rr, y, _ = make_dataset(TRAIN_SEED, n_synthetic)
    feats = features_from_rr(rr, DEFAULT)
    if len(real_rr_ms):
        feats = np.vstack([feats, features_from_rr(padded_rr(real_rr_ms), DEFAULT)])
        y = np.concatenate([y, np.asarray(real_af, dtype=np.int64)])
    ok = np.all(np.isfinite(feats), axis=1)
    w, b = fit_logistic(feats[ok], y[ok])
    return tuple(round(float(v), 4) for v in w), round(b, 4)


def padded_rr(real_rr_ms: Sequence[FloatArray]) -> FloatArray:
    """Ragged RR windows as one NaN-padded matrix."""
    width = max(1, *(r.size for r in real_rr_ms))
    padded = np.full((len(real_rr_ms), width), np.nan)
    for row, r in enumerate(real_rr_ms):
        padded[row, : r.size] = r
    return padded


def fit_atrial_weights(
    real_rr_ms: Sequence[FloatArray],
    real_atrial: FloatArray,
    real_af: NDArray[np.bool_],
    rr_model: DetectorConfig,
    alternating: int = 0,
) -> tuple[tuple[float, ...], float]:
    """Weights and bias (rounded as shipped) of the atrial model stacked on ``rr_model``.

    Parameters
    ----------
    real_rr_ms : sequence of ndarray of float64
        RR intervals (ms) of each real ECG window.
    real_atrial : ndarray of float64, shape (n, 4)
        Their atrial features (:func:`detectors.beats.atrial_features`).
    real_af : ndarray of bool
        True for the windows labelled AF.
    rr_model : DetectorConfig
        Whose ``rhythm_weights`` / ``rhythm_bias`` give the RR logit (the ones fitted on
        the same windows by :func:`fit_weights`).
    alternating : int
        Synthetic bigeminy windows (seed ``TRAIN_SEED``) added as negatives, each with
        the atrial features of a real non-AF window drawn at random (see
        :func:`alternating_windows`).

    Raises
    ------
    ValueError
        With no window whose features are all finite.
    """
    atrial = np.asarray(real_atrial, dtype=np.float64)
    y = np.asarray(real_af, dtype=np.int64)
    feats = features_from_rr(padded_rr(real_rr_ms), rr_model)
    if alternating:
        rr_alt, atrial_alt = alternating_windows(atrial[~np.asarray(real_af)], alternating)
        feats = np.vstack([feats, features_from_rr(rr_alt, rr_model)])
        atrial = np.vstack([atrial, atrial_alt])
        y = np.concatenate([y, np.zeros(alternating, dtype=np.int64)])
    x = atrial_model_inputs(feats, atrial, rr_model)
    ok = np.all(np.isfinite(x), axis=1)
    if not ok.any():
        raise ValueError("no real window with finite RR and atrial features to fit on")
    w, b = fit_logistic(x[ok], y[ok], L2_ATRIAL)
    return tuple(round(float(v), 4) for v in w), round(b, 4)


def alternating_windows(
    non_af_atrial: FloatArray, n: int, seed: int = TRAIN_SEED
) -> tuple[FloatArray, FloatArray]:
    """``n`` seeded synthetic bigeminy windows (20-64 beats, NaN-padded to 64) and, for
    each, the atrial features of a real non-AF window drawn at random.

    The real strips hold few alternating rhythms, and the ECG model takes the RR
    features directly; these windows keep it from learning that bigeminy's irregularity
    is AF (a sinus P wave precedes the sinus beats; the drawn atrial features come from
    normal and other-rhythm strips, ectopy included).
    """
    rng = np.random.default_rng(seed)
    lengths = rng.integers(20, 65, n)
    rr = bigeminy(rng, sinus_rr(rng, n, 64, rsa_frac=(0.01, 0.10)))
    rr[np.arange(64)[None, :] >= lengths[:, None]] = np.nan
    finite = np.flatnonzero(np.all(np.isfinite(non_af_atrial), axis=1))
    if finite.size == 0:
        raise ValueError("no real non-AF window with atrial features to pair with")
    return rr, non_af_atrial[rng.choice(finite, n)]


def operating_shift(
    logit: FloatArray,
    labels: NDArray[np.str_],
    other_max: float = OPERATING_OTHER,
    normal_max: float = OPERATING_NORMAL,
) -> float:
    """Logit of the operating point: the lowest score that flags at most ``other_max`` of
    the ``O`` rows and ``normal_max`` of the ``N`` rows (linear-interpolated quantiles,
    deterministic). Subtracting it from the bias puts that point at probability 0.5. A
    class without a finite score sets no limit; with neither, the point stays at 0.
    """
    ok = np.isfinite(logit)
    limits = [
        float(np.quantile(logit[ok & (labels == label)], 1.0 - share))
        for label, share in (("O", other_max), ("N", normal_max))
        if np.any(ok & (labels == label))
    ]
    return max(limits, default=0.0)


@dataclass(frozen=True)
class RhythmModels:
    """The fitted values of ``DetectorConfig``'s rhythm fields (rounded as shipped)."""

    rhythm_weights: tuple[float, ...]
    rhythm_bias: float
    rhythm_atrial_weights: tuple[float, ...]
    rhythm_atrial_bias: float

    def config(self, base: DetectorConfig = DEFAULT) -> DetectorConfig:
        """``base`` with these rhythm models."""
        return replace(
            base,
            rhythm_weights=self.rhythm_weights,
            rhythm_bias=self.rhythm_bias,
            rhythm_atrial_weights=self.rhythm_atrial_weights,
            rhythm_atrial_bias=self.rhythm_atrial_bias,
        )


def fit_models(
    real_rr_ms: Sequence[FloatArray], real_atrial: FloatArray, real_labels: NDArray[np.str_]
) -> RhythmModels:
    """Both rhythm models and their operating points, fitted on the synthetic windows plus
    the real strips given (N, A and O labels; see the module docstring).

    Parameters
    ----------
    real_rr_ms : sequence of ndarray of float64
        RR intervals (ms) of each real ECG strip the pipeline judges.
    real_atrial : ndarray of float64, shape (n, 4)
        Their atrial features (:func:`detectors.beats.atrial_features`).
    real_labels : ndarray of str, shape (n,)
        ``N``, ``A`` or ``O`` per strip.
    """
    labels = np.asarray(real_labels)
    af = labels == "A"
    w, b = fit_weights(real_rr_ms, af)
    rr_model = replace(DEFAULT, rhythm_weights=w, rhythm_bias=b)
    feats = features_from_rr(padded_rr(real_rr_ms), rr_model)
    b = round(b - operating_shift(feats @ np.asarray(w) + b, labels), 4)
    rr_model = replace(rr_model, rhythm_bias=b)
    atrial = np.asarray(real_atrial, dtype=np.float64)
    wa, ba = fit_atrial_weights(real_rr_ms, atrial, af, rr_model, ALTERNATING)
    x = atrial_model_inputs(feats, atrial, rr_model)
    ba = round(ba - operating_shift(x @ np.asarray(wa) + ba, labels), 4)
    return RhythmModels(w, b, wa, ba)


def judged(rr_ms: FloatArray, quality_ok: bool, config: DetectorConfig = DEFAULT) -> bool:
    """True when the pipeline would give these beats a rhythm verdict (the real windows
    the model is fitted on are the ones it will judge)."""
    plausible = int(np.sum((rr_ms >= config.rr_min_ms) & (rr_ms <= config.rr_max_ms)))
    return quality_ok and plausible >= config.min_beats_rhythm


def cinc_windows(data: Path) -> tuple[list[FloatArray], FloatArray, NDArray[np.str_]]:
    """RR (ms), atrial features and label (``N``, ``A`` or ``O``) of the judged CinC 2017
    strips in ``data/cinc2017-dev``.

    The WFDB ``.mat`` files hold the samples as ``val`` in µV (gain 1000/mV, 300 Hz).
    """
    folder = data / "cinc2017-dev"
    reference = folder / "REFERENCE.csv"
    if not reference.is_file():
        raise FileNotFoundError(f"{reference} not found: --data must hold cinc2017-dev/")
    windows: list[FloatArray] = []
    atrial: list[FloatArray] = []
    labels: list[str] = []
    for line in reference.read_text().split():
        record, label = line.split(",")
        if label not in ("N", "A", "O"):
            continue
        ecg_mv = loadmat(str(folder / f"{record}.mat"))["val"][0].astype(np.float64) / 1000.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            beats = beats_from_ecg(ecg_mv, CINC_FS_HZ, 0)
        if judged(beats.rr_ms, beats.quality_ok):
            windows.append(beats.rr_ms)
            atrial.append(beats.atrial)
            labels.append(label)
    atrial_matrix = np.asarray(atrial, dtype=np.float64).reshape(-1, len(ATRIAL_FEATURES))
    return windows, atrial_matrix, np.asarray(labels, dtype=np.str_)


def main(argv: Sequence[str] | None = None) -> None:
    """Fit, print the weights and the held-out synthetic accuracy."""
    parser = argparse.ArgumentParser(prog="python -m detectors.fit.fit_rhythm")
    parser.add_argument("--data", type=Path, help="folder holding cinc2017-dev/ (real beats)")
    args = parser.parse_args(argv)
    print("features:", ", ".join(RHYTHM_FEATURES))
    if args.data:
        real, atrial, labels = cinc_windows(args.data)
        print(f"real windows: {len(real)} ({int(np.sum(labels == 'A'))} AF)")
        models = fit_models(real, atrial, labels)
        print("rhythm_weights =", models.rhythm_weights)
        print("rhythm_bias =", models.rhythm_bias)
        print("atrial model inputs:", ", ".join(ATRIAL_MODEL_INPUTS))
        print("rhythm_atrial_weights =", models.rhythm_atrial_weights)
        print("rhythm_atrial_bias =", models.rhythm_atrial_bias)
        config = models.config()
    else:
        w, b = fit_weights([], np.zeros(0, dtype=np.bool_))
        print("rhythm_weights =", w)
        print("rhythm_bias =", b)
        config = DetectorConfig(rhythm_weights=w, rhythm_bias=b)
    rates = evaluate(config)
    print(
        f"held-out synthetic: AF sensitivity {rates['af']:.4f}, sinus specificity "
        f"{1 - rates['sinus']:.4f}, sinus+ectopy specificity {1 - rates['ectopy']:.4f}, "
        f"bigeminy specificity {1 - rates['bigeminy']:.4f}"
    )


if __name__ == "__main__":
    main()
