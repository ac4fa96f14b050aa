"""Beat-time generators: sinus rhythm with realistic variability, AF, ectopic beats.

Sinus rhythm uses the integral pulse frequency modulation (IPFM) model (Rompelman et
al. 1977, Med Biol Eng Comput 15:233-239; Mateo & Laguna 2000, IEEE TBME 47:985): the
sinus node fires whenever the integral of the instantaneous heart rate crosses an
integer. The instantaneous rate is the target heart rate (1 Hz, with circadian drift,
activity and episodes already in it) modulated by

- respiratory sinus arrhythmia at the breathing frequency (0.15–0.40 Hz, HF band of the
  Task Force of the ESC/NASPE 1996, Circulation 93:1043), amplitude ``rsa_ms`` of RR;
- Mayer waves at ~0.1 Hz (LF band; Julien 2006, Cardiovasc Res 70:12-21), ``lf_ms``;
- 1/f ("pink") fluctuation of the rate (Kobayashi & Musha 1982, IEEE TBME 29:456),
  ``pink_frac`` relative standard deviation;

plus a few ms of white beat jitter. All of it is vectorised over one user's trace.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GRID_HZ = 20.0
"""Resolution of the IPFM integration grid (beat times are exact to interpolation)."""


@dataclass(frozen=True)
class HeartProfile:
    """A user's resting variability. Defaults: healthy adult at rest (RMSSD ~25-50 ms,
    Nunan et al. 2010, Pacing Clin Electrophysiol 33:1407-1417, normative short-term HRV:
    RMSSD mean 42 ms, range 19-75)."""

    rsa_ms: float = 35.0
    resp_hz: float = 0.25
    lf_ms: float = 25.0
    pink_frac: float = 0.015
    jitter_ms: float = 2.0


def pink_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """Unit-variance 1/f noise of length ``n`` (spectral shaping of white noise)."""
    if n < 4:
        return np.zeros(n)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n)
    freqs[0] = freqs[1]
    spectrum /= np.sqrt(freqs)
    spectrum[0] = 0.0
    noise = np.fft.irfft(spectrum, n)
    return noise / (noise.std() or 1.0)


def sinus_beats(
    rng: np.random.Generator,
    start_ms: int,
    hr_bpm: np.ndarray,
    hrv_scale: np.ndarray,
    profile: HeartProfile,
) -> np.ndarray:
    """Beat times (float epoch ms) of sinus rhythm following ``hr_bpm``.

    Parameters
    ----------
    rng : numpy.random.Generator
    start_ms : int
        Epoch ms of the first element of the 1 Hz series.
    hr_bpm : numpy.ndarray
        Target mean heart rate per second (bpm).
    hrv_scale : numpy.ndarray
        Per second multiplier of the RSA and LF amplitudes (1 at rest, ~0.2-0.3 under
        stress or exercise: vagal withdrawal).
    profile : HeartProfile

    Returns
    -------
    numpy.ndarray
        Increasing beat times in epoch ms (float).
    """
    n_s = hr_bpm.size
    t_s = np.arange(0, n_s, 1.0 / GRID_HZ)
    sec = np.arange(n_s, dtype=np.float64)
    hr = np.interp(t_s, sec, hr_bpm)
    scale = np.interp(t_s, sec, hrv_scale)
    rr_mean_ms = 60_000.0 / hr
    # breathing frequency wanders slowly (±10 %); phase integrates it
    resp = profile.resp_hz * (1 + 0.1 * np.interp(t_s, sec, pink_noise(rng, n_s)))
    resp_phase = 2 * np.pi * np.cumsum(resp) / GRID_HZ + rng.uniform(0, 2 * np.pi)
    lf_hz = 0.1 * (1 + 0.1 * np.interp(t_s, sec, pink_noise(rng, n_s)))
    lf_phase = 2 * np.pi * np.cumsum(lf_hz) / GRID_HZ + rng.uniform(0, 2 * np.pi)
    rr_mod_ms = scale * (profile.rsa_ms * np.sin(resp_phase) + profile.lf_ms * np.sin(lf_phase))
    rr_ms = rr_mean_ms * (1 + profile.pink_frac * np.interp(t_s, sec, pink_noise(rng, n_s)))
    rr_ms = np.maximum(rr_ms + rr_mod_ms, 280.0)
    phase = np.cumsum(1000.0 / (rr_ms * GRID_HZ))  # beats elapsed
    k = np.arange(np.ceil(phase[0]), np.floor(phase[-1]) + 1)
    beats_s = np.interp(k, phase, t_s)
    beats = start_ms + beats_s * 1000.0
    beats += rng.normal(0.0, profile.jitter_ms, beats.size)
    return np.sort(beats)


def af_intervals(
    rng: np.random.Generator, duration_ms: float, rate_bpm: float, cv: float
) -> np.ndarray:
    """Irregularly irregular RR intervals (ms) of atrial fibrillation covering
    ``duration_ms``: independent gamma-distributed intervals with mean ``60000/rate_bpm``
    and coefficient of variation ``cv``. AF RR intervals are nearly uncorrelated with a
    unimodal, wide distribution (Hayano et al. 1997, Circulation 96:1135; CV of RR ~0.15-
    0.35 vs < 0.1 in sinus rhythm at rest, Tateno & Glass 2001, Med Biol Eng Comput
    39:664-671). Clipped to 300-2000 ms."""
    mean = 60_000.0 / rate_bpm
    shape = 1.0 / cv**2
    n = int(duration_ms / mean * 1.3) + 10
    rr = np.clip(rng.gamma(shape, mean / shape, n), 300.0, 2000.0)
    end = np.searchsorted(np.cumsum(rr), duration_ms)
    return rr[: end + 1]


def replace_with_af(
    rng: np.random.Generator,
    beats: np.ndarray,
    *,
    start_ms: float,
    end_ms: float,
    rate_bpm: float,
    cv: float,
) -> np.ndarray:
    """Replace the beats in ``[start_ms, end_ms)`` by AF beats; sinus resumes after."""
    before = beats[beats < start_ms]
    after = beats[beats >= end_ms]
    first = before[-1] if before.size else start_ms
    af = first + np.cumsum(af_intervals(rng, end_ms - first, rate_bpm, cv))
    af = af[af < end_ms - 300.0]
    return np.concatenate([before, af, after])


def add_ectopy(
    rng: np.random.Generator,
    beats: np.ndarray,
    *,
    start_ms: float,
    end_ms: float,
    per_min: float,
    pvc_fraction: float = 0.6,
) -> tuple[np.ndarray, np.ndarray]:
    """Insert premature beats in ``[start_ms, end_ms)`` at ``per_min`` per minute.

    A PVC comes at 55-70 % of the sinus interval and the next sinus beat keeps its time
    (full compensatory pause: pre + post = 2 RR; Lown & Wolf 1971, Circulation 44:130).
    A PAC comes at 65-80 % and resets the sinus node (the next beat follows ~1.05 RR
    later, non-compensatory), so later beats shift earlier.

    Returns
    -------
    beats : numpy.ndarray
        Modified beat times (ms).
    ectopic_index : numpy.ndarray
        Indices of the premature beats in the returned array.
    """
    inside = np.flatnonzero((beats >= start_ms) & (beats < end_ms))
    inside = inside[(inside >= 2) & (inside < beats.size - 3)]
    n = min(round(per_min * (end_ms - start_ms) / 60_000), inside.size // 4)
    if n <= 0:
        return beats, np.empty(0, dtype=np.int64)
    # every 4th candidate at most, so each ectopic has clean neighbours
    chosen = np.sort(rng.choice(inside[::4], size=n, replace=False))
    rr = np.diff(beats)
    out = beats.copy()
    shift = np.zeros(beats.size)
    is_pvc = rng.random(n) < pvc_fraction
    coupling = np.where(is_pvc, rng.uniform(0.55, 0.70, n), rng.uniform(0.65, 0.80, n))
    prev_rr = rr[chosen - 1]
    out[chosen] = beats[chosen - 1] + coupling * prev_rr
    pac = chosen[~is_pvc]
    pac_delta = (out[pac] + 1.05 * prev_rr[~is_pvc]) - beats[pac + 1]
    np.add.at(shift, pac + 1, pac_delta)
    # a PAC's reset moves every later beat (deltas sit at index p + 1, so the premature
    # beat itself only carries the shifts of earlier PACs)
    out += np.cumsum(shift)
    return out, chosen
