"""Detectors: pure functions and small state objects over NumPy arrays (HRV, stress,
rhythm, heart-rate limits, falls, beat extraction). May import numpy, scipy, neurokit2 only.
"""

from detectors.falls import FallState as FallState
from detectors.falls import fall_cancel as fall_cancel
from detectors.falls import fall_step as fall_step
from detectors.falls import fall_tick as fall_tick
from detectors.rules import AlertAction as AlertAction
from detectors.rules import RuleState as RuleState
from detectors.rules import WindowVerdict as WindowVerdict
from detectors.rules import rules_step as rules_step
from detectors.rules import sos_action as sos_action
