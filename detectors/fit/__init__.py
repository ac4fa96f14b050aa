"""Seeded synthetic data and the reproducible fit of the rhythm model (not used at run time)."""
