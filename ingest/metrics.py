"""Counters that show the pipeline is alive and keeping up (Prometheus text format)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class Metrics:
    """One registry per pipeline, so tests and demos can run several side by side."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.messages = Counter("vitals_messages", "MQTT messages received", registry=r)
        self.accepted = Counter("vitals_readings_accepted", "valid payloads folded in", registry=r)
        self.duplicates = Counter(
            "vitals_duplicates", "redelivered payloads ignored (device, seq)", registry=r
        )
        self.dead_letters = Counter(
            "vitals_dead_letters", "payloads refused", ["reason"], registry=r
        )
        self.readings = Counter("vitals_health_readings", "healthReadings rows stored", registry=r)
        self.alerts = Counter("vitals_alerts", "alert actions stored", ["action"], registry=r)
        self.db_errors = Counter("vitals_db_errors", "failed batch commits (retried)", registry=r)
        self.db_refused = Counter(
            "vitals_db_refused",
            "messages the database refused for good (data errors): kept as dead letters",
            registry=r,
        )
        self.seq_gaps = Counter(
            "vitals_seq_gaps", "messages missing in devices' seq numbering (lost)", registry=r
        )
        self.seq_resets = Counter(
            "vitals_seq_resets", "device seq counters seen restarting", registry=r
        )
        self.dead_letters_dropped = Counter(
            "vitals_dead_letters_dropped",
            "dead letters not stored: over their device's hourly quota",
            ["reason"],
            registry=r,
        )
        self.checkpoints_reset = Counter(
            "vitals_checkpoints_reset",
            "user checkpoints that could not be read (reason: unreadable, version, fields) "
            "and were reset to a fresh state",
            ["reason"],
            registry=r,
        )
        self.batches = Counter("vitals_batches", "committed batches", registry=r)
        self.lag = Gauge(
            "vitals_lag_seconds", "wall time minus reading time of the newest payload", registry=r
        )
        self.queue_depth = Gauge(
            "vitals_queue_depth", "messages waiting for the worker", registry=r
        )
        self.started = time.time()

    def value(self, name: str, **labels: str) -> float:
        sample = self.registry.get_sample_value(name, labels or None)
        return float(sample or 0.0)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def summary(self) -> dict[str, float]:
        dead = sum(
            sample.value
            for metric in self.registry.collect()
            if metric.name == "vitals_dead_letters"
            for sample in metric.samples
            if sample.name.endswith("_total")
        )
        return {
            "messages": self.value("vitals_messages_total"),
            "accepted": self.value("vitals_readings_accepted_total"),
            "duplicates": self.value("vitals_duplicates_total"),
            "dead_letters": dead,
            "readings": self.value("vitals_health_readings_total"),
            "alerts_opened": self.value("vitals_alerts_total", action="open"),
            "db_errors": self.value("vitals_db_errors_total"),
            "seq_gaps": self.value("vitals_seq_gaps_total"),
        }
