"""The one root of errors raised by :mod:`simulators`."""

from __future__ import annotations


class SimulatorError(ValueError):
    """A bad spec, scenario, label file, trace line or import input; the message names it."""
