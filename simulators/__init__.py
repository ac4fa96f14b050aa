"""Simulators: synthetic labelled traces, recorded-trace import, replay, scoring."""
