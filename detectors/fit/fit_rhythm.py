"""Fit the rhythm logistic model reproducibly on seeded synthetic windows.

Run ``python -m detectors.fit.fit_rhythm``: it generates training windows (seed
``TRAIN_SEED``) of sinus/RSA, sinus + PVC/PAC ectopy (2-15 % burden) and AF (CV
0.10-0.30, 70-150 bpm), 40-120 beats each, fits an L2-regularised logistic regression by
Newton-Raphson (IRLS) on standardised features, prints the weights for
``DetectorConfig.rhythm_weights``/``rhythm_bias`` and the per-class accuracy on an
independent test set (seed ``TEST_SEED``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from detectors.config import DEFAULT, DetectorConfig
from detectors.fit.synthetic import add_ectopy, af_rr, sinus_rr
from detectors.rhythm import RHYTHM_FEATURES, features_from_rr, irregular_probability

TRAIN_SEED = 20240601
TEST_SEED = 20240602
L2 = 10.0

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
        af = af_rr(rng, m, k, cv=(0.10, 0.30))
        for block, label, name in ((sinus, 0, "sinus"), (ectopy, 0, "ectopy"), (af, 1, "af")):
            pad = np.full((m, 120), np.nan)
            pad[:, :k] = block
            rows.append(pad)
            labels += [label] * m
            names += [name] * m
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
    return {name: float(called[arr == name].mean()) for name in ("sinus", "ectopy", "af")}


def main() -> None:
    """Fit, print the weights and the held-out accuracy."""
    rr, y, _ = make_dataset(TRAIN_SEED, 8000)
    feats = features_from_rr(rr, DEFAULT)
    ok = np.all(np.isfinite(feats), axis=1)
    w, b = fit_logistic(feats[ok], y[ok])
    print("features:", ", ".join(RHYTHM_FEATURES))
    print("rhythm_weights =", tuple(round(float(v), 4) for v in w))
    print("rhythm_bias =", round(b, 4))
    cfg = DetectorConfig(
        rhythm_weights=tuple(round(float(v), 4) for v in w), rhythm_bias=round(b, 4)
    )
    rates = evaluate(cfg)
    print(
        f"held-out: AF sensitivity {rates['af']:.4f}, sinus specificity "
        f"{1 - rates['sinus']:.4f}, sinus+ectopy specificity {1 - rates['ectopy']:.4f}"
    )


if __name__ == "__main__":
    main()
