"""Detectors: pure functions and small state objects over NumPy arrays (HRV, stress,
rhythm, heart-rate limits, falls, beat extraction). May import numpy, scipy, neurokit2 only.
"""

from detectors.beats import BeatExtraction as BeatExtraction
from detectors.beats import beats_from_ecg as beats_from_ecg
from detectors.beats import beats_from_ppg as beats_from_ppg
from detectors.config import DEFAULT as DEFAULT
from detectors.config import DetectorConfig as DetectorConfig
from detectors.fall_bank import FallBank as FallBank
from detectors.fall_bank import fall_step_bank as fall_step_bank
from detectors.falls import AccelChunk as AccelChunk
from detectors.falls import FallState as FallState
from detectors.falls import fall_cancel as fall_cancel
from detectors.falls import fall_step as fall_step
from detectors.falls import fall_step_chunks as fall_step_chunks
from detectors.falls import fall_tick as fall_tick
from detectors.hrv import hrv_time_batch as hrv_time_batch
from detectors.rules import AlertAction as AlertAction
from detectors.rules import RuleState as RuleState
from detectors.rules import WindowVerdict as WindowVerdict
from detectors.rules import rules_step as rules_step
from detectors.rules import sos_action as sos_action
from detectors.serialize import state_from_json as state_from_json
from detectors.serialize import state_to_json as state_to_json
from detectors.stress import StressBaseline as StressBaseline
from detectors.stress import stress_step as stress_step
from detectors.windows import WindowBatch as WindowBatch
from detectors.windows import WindowFeatures as WindowFeatures
from detectors.windows import analyze_windows as analyze_windows
