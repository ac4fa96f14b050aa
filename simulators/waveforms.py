"""Raw ECG (mV, 250 Hz) and PPG (64 Hz) rendered on the simulated beat times.

One beat template is taken from NeuroKit2 (``ecg_simulate(method="simple")``, the
Daubechies-wavelet ECG, and ``ppg_simulate``) and laid at every beat of the user's
rhythm, so AF, ectopy and brady/tachycardia appear in the waveform exactly as in the
``rr`` stream. The ECG's post-R part (ST-T) shortens with heart rate by Bazett's
sqrt(RR) scaling (Bazett 1920, Heart 7:353); a PPG pulse arrives ~200 ms after the R
peak (pulse arrival time, Mukkamala et al. 2015, IEEE TBME 62:1879) and spans the
interval. Noise: ``neurokit2.signal_distort`` (white noise, 50 Hz powerline, baseline
wander); during walking, stairs and jogging a motion artefact at the step frequency
(wrist PPG is dominated by it, Zhang et al. 2015, IEEE TBME 62:522 "TROIKA").
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from simulators.accel_model import MOVING, STEP_HZ
from simulators.payloads import sample_payloads

WAVEFORM_FS_HZ = {"ecg": 250, "ppg": 64}
PULSE_ARRIVAL_MS = 200.0


@cache
def _ecg_template() -> tuple[np.ndarray, int]:
    """(one ECG beat at 60 bpm in mV, index of its R peak)."""
    import neurokit2 as nk  # noqa: PLC0415 (imported on first use: it is slow to import)

    fs = WAVEFORM_FS_HZ["ecg"]
    ecg = np.asarray(
        nk.ecg_simulate(
            duration=6, sampling_rate=fs, heart_rate=60, method="simple", noise=0, random_state=0
        )
    )
    r = int(np.argmax(ecg[2 * fs : 3 * fs])) + 2 * fs
    return ecg[r - int(0.35 * fs) : r + int(0.6 * fs)].copy(), int(0.35 * fs)


@cache
def _ppg_template() -> np.ndarray:
    """One normalised PPG pulse at 60 bpm (onset to onset)."""
    import neurokit2 as nk  # noqa: PLC0415

    fs = WAVEFORM_FS_HZ["ppg"]
    ppg = np.asarray(
        nk.ppg_simulate(
            duration=8,
            sampling_rate=fs,
            heart_rate=60,
            random_state=0,
            drift=0,
            motion_amplitude=0,
            powerline_amplitude=0,
            burst_amplitude=0,
        )
    )
    onset = int(np.argmin(ppg[2 * fs : 3 * fs])) + 2 * fs
    pulse = ppg[onset : onset + fs]
    return np.asarray((pulse - pulse.min()) / (np.ptp(pulse) or 1.0))


def _render(kind: str, beats_ms: np.ndarray, b0: int, n: int) -> np.ndarray:
    fs = WAVEFORM_FS_HZ[kind]
    t = b0 + np.arange(n) * 1000.0 / fs
    signal = np.zeros(n)
    near = beats_ms[(beats_ms > b0 - 2500) & (beats_ms < b0 + n * 1000 / fs + 2500)]
    if kind == "ecg":
        template, r = _ecg_template()
        pre = np.arange(r) - r
        post = np.arange(template.size - r)
        for k, beat in enumerate(near):
            rr = float(beat - near[k - 1]) if k else 1000.0
            stretch = np.sqrt(np.clip(rr, 300, 2000) / 1000.0)
            times = beat + np.r_[pre * 1000.0 / fs, post * 1000.0 / fs * stretch]
            signal += np.interp(t, times, template, left=0.0, right=0.0)
        return signal
    template = _ppg_template()
    phase_grid = np.linspace(0.0, 1.0, template.size)
    onsets = near + PULSE_ARRIVAL_MS
    idx = np.searchsorted(onsets, t, side="right") - 1
    valid = (idx >= 0) & (idx < onsets.size - 1)
    span = np.diff(onsets)
    frac = np.zeros(n)
    frac[valid] = (t[valid] - onsets[idx[valid]]) / span[idx[valid]]
    signal[valid] = np.interp(frac[valid], phase_grid, template)
    return signal


def render_waveform(
    rng: np.random.Generator,
    *,
    kind: str,
    user: int,
    device: str,
    beats_ms: np.ndarray,
    codes: np.ndarray,
    b0: int,
    b1: int,
    batch_ms: int,
) -> list[dict[str, Any]]:
    """``ecg`` or ``ppg`` payloads for ``[b0, b1)`` of one user.

    ``codes`` are the user's activity codes per second of the block (motion artefacts).
    """
    import neurokit2 as nk  # noqa: PLC0415

    fs = WAVEFORM_FS_HZ[kind]
    n = (b1 - b0) * fs // 1000
    clean = _render(kind, beats_ms, b0, n)
    seed = int(rng.integers(0, 2**31 - 1))
    scale = 1.0 if kind == "ecg" else 0.5
    noisy = np.asarray(
        nk.signal_distort(
            clean,
            sampling_rate=fs,
            noise_amplitude=0.03 * scale,
            noise_frequency=[5, 10],
            powerline_amplitude=0.01 * scale if kind == "ecg" else 0.0,
            artifacts_amplitude=0.0,
            random_state=seed,
            silent=True,
        )
    )
    per_sample = np.repeat(codes, fs)[:n]
    moving = np.isin(per_sample, MOVING)
    if moving.any():
        t = np.arange(n) / fs
        step = STEP_HZ[per_sample]
        artefact = np.sin(2 * np.pi * step * t + rng.uniform(0, 2 * np.pi))
        artefact += 0.5 * np.cumsum(rng.normal(0, 0.05, n))  # sensor/skin shift
        noisy = noisy + np.where(moving, (0.8 if kind == "ppg" else 0.3) * artefact, 0.0)
    decimals = 3 if kind == "ecg" else 4
    return sample_payloads(
        user,
        device,
        kind,
        start_ms=b0,
        fs_hz=fs,
        channels={"values": noisy},
        batch_ms=batch_ms,
        decimals=decimals,
    )
