"""A window's features must not depend on which other windows share its batch (the live
runner, a replay and a Faust worker batch the same windows differently)."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

from detectors import WindowBatch, analyze_windows


def _batch(windows: list[np.ndarray]) -> WindowBatch:
    n = len(windows)
    return WindowBatch.from_lists(
        windows,
        user_ids=list(range(1, n + 1)),
        end_ms=[60_000] * n,
        hr_bpm=[[] for _ in windows],
        activity_g=[0.01] * n,
        rhythm_trusted=[True] * n,
    )


@pytest.mark.parametrize("seed", range(8))
def test_features_of_a_window_alone_equal_those_in_a_wider_batch(seed: int) -> None:
    rng = np.random.default_rng(seed)
    af = np.clip(60_000 / 99 * (1 + rng.normal(0, 0.2, 95)), 300, 2000)
    af[[10, 40]] = [3000.0, 200.0]  # implausible intervals inside the window
    sinus = 800 + rng.normal(0, 20, 300)
    short = 700 + rng.normal(0, 15, 40)
    alone = analyze_windows(_batch([af]))
    for batch, row in (([af, sinus], 0), ([short, sinus, af], 2), ([sinus, af, short], 1)):
        together = analyze_windows(_batch(batch))
        for field in dataclasses.fields(alone):
            a = np.asarray(getattr(alone, field.name))[0]
            b = np.asarray(getattr(together, field.name))[row]
            np.testing.assert_allclose(a, b, rtol=1e-9, equal_nan=True, err_msg=field.name)


def test_a_batch_of_windows_without_beats_warns_nothing() -> None:
    """Windows with only HR samples (no RR at all) give HR and no HRV, silently."""
    batch = WindowBatch.from_lists(
        [[], []],
        user_ids=[1, 2],
        end_ms=[60_000, 60_000],
        hr_bpm=[[71.0, 73.0], []],
        activity_g=[np.nan, 0.2],
        rhythm_trusted=[True, True],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        features = analyze_windows(batch)
    assert features.heart_rate_bpm[0] == pytest.approx(72.0)
    assert np.isnan(features.heart_rate_bpm[1])
    assert not features.hrv_valid.any() and not features.rhythm_valid.any()
