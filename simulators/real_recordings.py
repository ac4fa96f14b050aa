"""Real recordings shipped with the code: pyhrv's sample NN series and ECG (BSD-3).

See ``simulators/data/pyhrv/README.md`` for provenance and checksums. One adult in sinus
rhythm: good for specificity and for agreement with NeuroKit2 on real intervals, not
for AF sensitivity.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = ["ECG_CSV", "ECG_FS_HZ", "NNI_CSV", "load_ecg_adc", "load_nni_ms", "minute_windows"]

DATA_DIR = Path(__file__).with_name("data") / "pyhrv"
NNI_CSV = DATA_DIR / "nni_60min.csv"
ECG_CSV = DATA_DIR / "ecg_22s_1000hz.csv"
ECG_FS_HZ = 1000.0


def load_nni_ms() -> NDArray[np.float64]:
    """The 60-minute NN interval series (ms), 4,684 intervals."""
    return np.loadtxt(NNI_CSV, skiprows=1, dtype=np.float64)


def load_ecg_adc() -> NDArray[np.float64]:
    """The 22 s ECG at :data:`ECG_FS_HZ` in raw ADC units (the beat detector is
    scale-free: NeuroKit2 cleans and normalises)."""
    return np.loadtxt(ECG_CSV, skiprows=1, dtype=np.float64)


def minute_windows(rr_ms: NDArray[np.float64]) -> list[NDArray[np.float64]]:
    """Split a beat series into 60 s windows of beat time from its start, as the engine
    windows reading time (an interval belongs to the window its ending beat falls in).

    Examples
    --------
    >>> [w.tolist() for w in minute_windows(np.array([30_000.0, 20_000, 20_000, 5_000]))]
    [[30000.0, 20000.0], [20000.0, 5000.0]]
    """
    minute = (np.cumsum(rr_ms) // 60_000).astype(np.int64)
    return [rr_ms[minute == m] for m in np.unique(minute)]
