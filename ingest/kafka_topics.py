"""Kafka names of the scale-out path, shared by the bridge, the workers and their commands
(importable without the ``scaleout`` extra, so ``vitals --help`` lists their defaults)."""

#: Topic of the payloads the bridge refused (``reason``/``detail`` headers).
DEAD_LETTER_TOPIC = "vitals.deadletters"
#: Partitions of the readings topic when the bridge creates it (see docs: scaling).
DEFAULT_PARTITIONS = 8
