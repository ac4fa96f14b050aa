"""Seeded synthetic RR intervals and waveforms with ground-truth rhythm labels.

Used to fit the rhythm model (:mod:`detectors.fit.fit_rhythm`), in tests and in the
benchmark. All generators are vectorised over windows and take a NumPy ``Generator``.

- :func:`sinus_rr`: sinus rhythm 50-100 bpm with respiratory sinus arrhythmia (RSA,
  0.15-0.35 Hz, 2-8 % of RR), a 0.1 Hz Mayer-wave component, a slow trend and beat
  jitter — the shape used by McSharry et al. 2003's ECGSYN RR generator, simplified.
- :func:`add_ectopy`: premature beats at a burden: PVCs (coupling 55-80 % then a full
  compensatory pause, pair = 2 RR) and PACs (coupling 60-85 %, reset pause 100-115 %).
- :func:`af_rr`: AF-like i.i.d. intervals, 70-150 bpm, coefficient of variation in a
  range (AF RR CV ~0.15-0.30, Tateno & Glass 2001), floored at 280 ms.
- :func:`ecg_from_rr` / :func:`ppg_from_rr`: waveforms with one Gaussian-sum PQRST
  (McSharry et al. 2003 shape; P absent and f-waves added for AF) or a two-Gaussian pulse
  per beat, plus optional noise.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["add_ectopy", "af_rr", "ecg_from_rr", "noise", "ppg_from_rr", "sinus_rr"]

FloatArray = NDArray[np.float64]


def sinus_rr(
    rng: np.random.Generator,
    n_windows: int,
    n_beats: int,
    hr_bpm: tuple[float, float] = (50.0, 100.0),
    rsa_frac: tuple[float, float] = (0.02, 0.08),
) -> FloatArray:
    """Sinus rhythm with RSA, shape (n_windows, n_beats), ms."""
    mean_rr = 60000.0 / rng.uniform(*hr_bpm, size=(n_windows, 1))
    t_s = np.arange(n_beats)[None, :] * mean_rr / 1000.0
    f_resp = rng.uniform(0.15, 0.35, (n_windows, 1))
    rsa = rng.uniform(*rsa_frac, (n_windows, 1)) * np.sin(
        2 * np.pi * f_resp * t_s + rng.uniform(0, 2 * np.pi, (n_windows, 1))
    )
    mayer = rng.uniform(0.0, 0.03, (n_windows, 1)) * np.sin(
        2 * np.pi * 0.1 * t_s + rng.uniform(0, 2 * np.pi, (n_windows, 1))
    )
    trend = rng.uniform(-0.05, 0.05, (n_windows, 1)) * (t_s / max(float(t_s.max()), 1.0))
    jitter = rng.normal(0.0, 1.0, (n_windows, n_beats)) * rng.uniform(0.005, 0.015, (n_windows, 1))
    return mean_rr * (1.0 + rsa + mayer + trend + jitter)


def add_ectopy(
    rng: np.random.Generator, rr_ms: FloatArray, burden: tuple[float, float] = (0.02, 0.15)
) -> FloatArray:
    """Insert PVCs/PACs (premature + pause pairs) at a per-window burden."""
    rr = rr_ms.copy()
    n, k = rr.shape
    p = rng.uniform(*burden, (n, 1))
    start = rng.random((n, k)) < p
    start[:, -1] = False
    start[:, 1:] &= ~start[:, :-1]  # no back-to-back pairs
    start[:, 2:] &= ~start[:, :-2]
    rows, cols = np.nonzero(start)
    base = rr[rows, cols]
    pvc = rng.random(rows.size) < 0.5
    coupling = np.where(pvc, rng.uniform(0.55, 0.80, rows.size), rng.uniform(0.60, 0.85, rows.size))
    pause = np.where(pvc, 2.0 - coupling, rng.uniform(1.00, 1.15, rows.size))
    rr[rows, cols] = base * coupling
    rr[rows, cols + 1] = base * pause
    return rr


def bigeminy(rng: np.random.Generator, rr_ms: FloatArray) -> FloatArray:
    """Every other beat premature (coupling 0.55-0.85 of the sinus interval) with a
    compensatory pause, from a random phase: ventricular or atrial bigeminy."""
    rr = rr_ms.copy()
    n, k = rr.shape
    coupling = rng.uniform(0.55, 0.85, (n, 1))
    odd = (np.arange(k)[None, :] + rng.integers(0, 2, (n, 1))) % 2 == 1
    return np.where(odd, rr * coupling, rr * (2.0 - coupling))


def af_rr(
    rng: np.random.Generator,
    n_windows: int,
    n_beats: int,
    hr_bpm: tuple[float, float] = (70.0, 150.0),
    cv: tuple[float, float] = (0.15, 0.30),
) -> FloatArray:
    """AF-like irregularly irregular intervals, shape (n_windows, n_beats), ms."""
    mean_rr = 60000.0 / rng.uniform(*hr_bpm, (n_windows, 1))
    c = rng.uniform(*cv, (n_windows, 1))
    # log-normal with the requested mean and CV (AF RR histograms are right-skewed)
    sigma = np.sqrt(np.log1p(c**2))
    mu = np.log(mean_rr) - sigma**2 / 2
    rr = np.exp(mu + sigma * rng.normal(size=(n_windows, n_beats)))
    return np.maximum(rr, 280.0)


def _beat_times_s(rr_ms: FloatArray) -> FloatArray:
    return 0.5 + np.concatenate([[0.0], np.cumsum(rr_ms)]) / 1000.0


def ecg_from_rr(
    rr_ms: FloatArray, fs_hz: float, af: bool = False, rng: np.random.Generator | None = None
) -> tuple[FloatArray, FloatArray]:
    """ECG (mV) with an R peak at each beat; returns (signal, R times in s)."""
    beats = _beat_times_s(rr_ms)
    duration = beats[-1] + 0.8
    t = np.arange(int(duration * fs_hz)) / fs_hz
    sig = np.zeros_like(t)
    waves = [(-0.03, -0.12, 0.010), (0.0, 1.1, 0.011), (0.03, -0.25, 0.010)]
    if not af:
        waves.append((-0.17, 0.12, 0.025))
    for i, tb in enumerate(beats):
        rr_s = rr_ms[min(i, rr_ms.size - 1)] / 1000.0
        qt = 0.28 * np.sqrt(max(rr_s, 0.3))  # Bazett-like T timing
        lo, hi = np.searchsorted(t, [tb - 0.35, tb + qt + 0.25])
        seg = t[lo:hi] - tb
        for centre, amp, width in [*waves, (qt, 0.3, 0.05)]:
            sig[lo:hi] += amp * np.exp(-0.5 * ((seg - centre) / width) ** 2)
    if af:
        gen = rng if rng is not None else np.random.default_rng(0)
        f = gen.uniform(4.0, 8.0)
        sig += 0.05 * np.sin(2 * np.pi * f * t + 0.5 * np.sin(2 * np.pi * 0.3 * t))
    return sig, beats


def ppg_from_rr(rr_ms: FloatArray, fs_hz: float) -> tuple[FloatArray, FloatArray]:
    """PPG (a.u.) with a systolic peak ~200 ms after each beat; returns (signal, beat s)."""
    beats = _beat_times_s(rr_ms)
    duration = beats[-1] + 1.2
    t = np.arange(int(duration * fs_hz)) / fs_hz
    sig = np.zeros_like(t)
    for i, tb in enumerate(beats):
        rr_s = rr_ms[min(i, rr_ms.size - 1)] / 1000.0
        s = min(1.0, rr_s / 0.8)
        lo, hi = np.searchsorted(t, [tb - 0.1, tb + 1.0])
        seg = t[lo:hi] - tb
        sig[lo:hi] += np.exp(-0.5 * ((seg - 0.2 * s) / (0.07 * s)) ** 2)
        sig[lo:hi] += 0.4 * np.exp(-0.5 * ((seg - 0.45 * s) / (0.09 * s)) ** 2)
    return sig, beats + 0.2


def noise(rng: np.random.Generator, n: int, fs_hz: float, amplitude: float) -> FloatArray:
    """Motion-like noise: white + random-walk baseline + spikes, peak-ish ``amplitude``."""
    white = rng.normal(0, amplitude * 0.5, n)
    walk = np.cumsum(rng.normal(0, amplitude * 3.0 / np.sqrt(fs_hz), n))
    walk -= np.convolve(walk, np.ones(int(fs_hz)) / int(fs_hz), mode="same")
    spikes = (rng.random(n) < 2.0 / fs_hz) * rng.normal(0, amplitude * 2.0, n)
    return white + walk + np.convolve(spikes, np.ones(int(fs_hz * 0.1)), mode="same")
