"""Errors raised by the detectors package, all under one root.

Every error is also a :class:`ValueError` (detectors only ever reject bad input) and its
message names the bad value and where it came from.
"""


class DetectorError(ValueError):
    """Root of every detectors error."""


class InvalidVerdict(DetectorError):
    """A window verdict handed to the alert rules is impossible (e.g. HR <= 0)."""


class InvalidAccelChunk(DetectorError):
    """An accelerometer chunk handed to the fall detector is malformed or out of range."""
