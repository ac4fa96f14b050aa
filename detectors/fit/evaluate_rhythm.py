"""Measure rhythm classification on seeded synthetic windows (RR and waveform-derived).

Run ``python -m detectors.fit.evaluate_rhythm``. Prints, per scenario, the share of
windows called irregular among those with a valid verdict, and the share with no verdict.
The data are the generators of :mod:`detectors.fit.synthetic` with seeds independent of
the fitting seed; the figures go into the README "Accuracy" section.
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import NDArray

from detectors.beats import beats_from_ecg, beats_from_ppg
from detectors.fit.synthetic import add_ectopy, af_rr, ecg_from_rr, noise, ppg_from_rr, sinus_rr
from detectors.windows import WindowBatch, analyze_windows

SEED = 20240610
N_RR = 5000
N_WAVE = 40


def _called(rows: list[NDArray[np.float64]], trusted: list[bool]) -> tuple[float, float]:
    f = analyze_windows(WindowBatch.from_lists(rows, rhythm_trusted=trusted), frequency=False)
    valid = f.rhythm_valid
    share = float(f.irregular[valid].mean()) if valid.any() else float("nan")
    return share, float(1.0 - valid.mean())


def _bigeminy(rng: np.random.Generator, n: int, k: int) -> NDArray[np.float64]:
    rr = sinus_rr(rng, n, k)
    rr[:, 1::2] *= 0.7  # every other beat premature
    rr[:, 2::2] *= 1.3
    return rr


def rr_scenarios(rng: np.random.Generator) -> dict[str, NDArray[np.float64]]:
    """Windows of 64 beats per scenario."""
    k = 64
    return {
        "sinus (RSA 2-10 %)": sinus_rr(rng, N_RR, k, rsa_frac=(0.02, 0.10)),
        "sinus, strong RSA 10-20 %": sinus_rr(rng, N_RR, k, rsa_frac=(0.10, 0.20)),
        "sinus + ectopy 2-15 %": add_ectopy(rng, sinus_rr(rng, N_RR, k)),
        "sinus + ectopy 15-30 %": add_ectopy(rng, sinus_rr(rng, N_RR, k), burden=(0.15, 0.30)),
        "ventricular bigeminy": _bigeminy(rng, N_RR, k),
        "AF, CV 0.15-0.30": af_rr(rng, N_RR, k, cv=(0.15, 0.30)),
        "AF, CV 0.10-0.15": af_rr(rng, N_RR, k, cv=(0.10, 0.15)),
        "AF, CV 0.05-0.10": af_rr(rng, N_RR, k, cv=(0.05, 0.10)),
    }


def wave_scenarios(rng: np.random.Generator) -> dict[str, tuple[str, bool, float]]:
    """Scenario -> (kind, af, noise amplitude)."""
    out: dict[str, tuple[str, bool, float]] = {}
    for kind in ("ecg", "ppg"):
        out[f"{kind}: sinus + ectopy, light noise"] = (kind, False, 0.02)
        out[f"{kind}: AF, light noise"] = (kind, True, 0.02)
        out[f"{kind}: AF, heavy noise"] = (kind, True, 1.0)
    return out


def main() -> None:
    """Print the figures."""
    rng = np.random.default_rng(SEED)
    print(f"{'scenario':40s} {'windows':>7s} {'called irregular':>17s} {'no verdict':>11s}")
    for name, rr in rr_scenarios(rng).items():
        share, none = _called(list(rr), [True] * len(rr))
        print(f"{name:40s} {len(rr):7d} {share:17.4f} {none:11.4f}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, (kind, af, amp) in wave_scenarios(rng).items():
            rows, trusted = [], []
            for _ in range(N_WAVE):
                if af:
                    rr = af_rr(rng, 1, 80, cv=(0.15, 0.30))[0]
                else:
                    rr = add_ectopy(rng, sinus_rr(rng, 1, 64), burden=(0.02, 0.15))[0]
                if kind == "ecg":
                    sig, _ = ecg_from_rr(rr, 250.0, af=af, rng=rng)
                    b = beats_from_ecg(sig + noise(rng, sig.size, 250.0, amp), 250.0, 0)
                else:
                    sig, _ = ppg_from_rr(rr, 64.0)
                    b = beats_from_ppg(sig + noise(rng, sig.size, 64.0, amp), 64.0, 0)
                rows.append(b.rr_ms)
                trusted.append(b.quality_ok)
            share, none = _called(rows, trusted)
            print(f"{name:40s} {N_WAVE:7d} {share:17.4f} {none:11.4f}")


if __name__ == "__main__":
    main()
