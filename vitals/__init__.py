"""Composition root of vitals: settings, the ``vitals`` CLI and the HTTP app wiring.

Logic lives in the packages ``detectors``, ``ingest``, ``storage``, ``notifier`` and
``simulators``; this package only builds :class:`vitals.settings.Settings` once and
passes it down.
"""

__version__ = "0.1.0"
