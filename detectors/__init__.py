"""Detectors: pure functions and small state objects over NumPy arrays (HRV, stress,
rhythm, heart-rate limits, falls, beat extraction). May import numpy, scipy, neurokit2 only.
"""
