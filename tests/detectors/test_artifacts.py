"""Artefact and ectopic handling: implausible RR removed, ectopic pairs excluded and explained."""

from __future__ import annotations

import numpy as np

from detectors.artifacts import clean_intervals
from detectors.config import DetectorConfig
from detectors.fit.synthetic import add_ectopy, af_rr, sinus_rr


def test_implausible_intervals_are_removed() -> None:
    rr = np.array([[800.0, 240.0, 810.0, 2600.0, 790.0, 805.0, np.nan]])
    c = clean_intervals(rr)
    assert c.plausible[0].tolist() == [True, False, True, False, True, True, False]
    assert not c.nn[0, [1, 3, 6]].any()
    assert np.isfinite(c.rr_filled_ms).all()


def test_pvc_with_compensatory_pause_is_excluded_and_explained() -> None:
    rr = np.full((1, 40), 800.0)
    rr[0, 20], rr[0, 21] = 520.0, 1080.0  # PVC: pair = 2 x 800
    c = clean_intervals(rr)
    assert not c.nn[0, 20] and not c.nn[0, 21]
    assert c.nn[0, :20].all() and c.nn[0, 22:].all()
    assert not c.unexplained.any()


def test_missed_and_extra_detections_are_explained() -> None:
    rr = np.full((2, 30), 700.0)
    rr[0, 10] = 1400.0  # missed beat
    rr[1, 10], rr[1, 11] = 300.0, 400.0  # false extra detection splits one interval
    c = clean_intervals(rr)
    assert not c.nn[0, 10] and not c.nn[1, 10] and not c.nn[1, 11]
    assert not c.unexplained.any()


def test_af_leaves_unexplained_outliers_sinus_ectopy_few() -> None:
    rng = np.random.default_rng(5)
    af = clean_intervals(af_rr(rng, 200, 64, cv=(0.2, 0.2)))
    ect = clean_intervals(add_ectopy(rng, sinus_rr(rng, 200, 64)))
    af_share = af.unexplained.mean(axis=1)
    ect_share = ect.unexplained.mean(axis=1)
    assert np.median(af_share) > 0.10
    assert np.quantile(ect_share, 0.95) < 0.03


def test_threshold_comes_from_config() -> None:
    rr = np.full((1, 20), 800.0)
    rr[0, 10] = 700.0  # 12.5 % short
    assert clean_intervals(rr).nn[0, 10]
    assert not clean_intervals(rr, DetectorConfig(ectopic_rel_threshold=0.10)).nn[0, 10]
