"""A small seeded scenario with one user per situation, generated once per test session."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from simulators.generate import Options, Result, simulate
from simulators.plan import SimulationPlan, scenario_plan
from vitals.cli import main

SCENARIO = {
    "start": "2025-01-15T09:00:00Z",
    "hours": 1.25,
    "seed": 11,
    "users": [
        {"user": 1, "base_hr_bpm": 66, "events": []},
        {
            "user": 2,
            "events": [{"type": "af", "at_min": 20, "minutes": 30, "rate_bpm": 110, "cv": 0.22}],
        },
        {"user": 3, "events": [{"type": "brady", "at_min": 20, "minutes": 15, "hr_bpm": 35}]},
        {"user": 4, "events": [{"type": "tachy", "at_min": 20, "minutes": 15, "hr_bpm": 130}]},
        {"user": 5, "events": [{"type": "ectopy", "at_min": 20, "minutes": 20, "per_min": 5}]},
        {"user": 6, "events": [{"type": "stress", "at_min": 40, "minutes": 25}]},
        {"user": 7, "events": [{"type": "exercise", "at_min": 20, "minutes": 20, "hr_bpm": 135}]},
        {
            "user": 8,
            "events": [
                {"type": "fall", "at_min": 20, "direction": "forward", "lie_s": 300},
                {
                    "type": "fall",
                    "at_min": 40,
                    "direction": "lateral",
                    "from_chair": True,
                    "lie_s": 300,
                },
            ],
        },
        {
            "user": 9,
            "events": [
                {
                    "type": "cancelled_fall",
                    "at_min": 20,
                    "direction": "backward",
                    "cancel_after_s": 15,
                }
            ],
        },
        {
            "user": 10,
            "events": [
                {"type": "fall_like", "at_min": 20, "movement": "sit_hard"},
                {"type": "fall_like", "at_min": 30, "movement": "jump"},
                {"type": "sos", "at_min": 50},
            ],
        },
    ],
}


@pytest.fixture(scope="session")
def scenario_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scenario") / "scenario.json"
    path.write_text(json.dumps(SCENARIO))
    return path


@pytest.fixture(scope="session")
def scenario(scenario_file: Path) -> SimulationPlan:
    return scenario_plan(scenario_file)


@pytest.fixture(scope="session")
def scenario_trace(scenario: SimulationPlan, tmp_path_factory: pytest.TempPathFactory) -> Result:
    out = tmp_path_factory.mktemp("trace") / "scenario.jsonl.gz"
    return simulate(scenario, out, Options())


@pytest.fixture
def replay_to_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], Path]:
    """``vitals replay TRACE --register`` into a fresh SQLite file; returns its path."""

    def replay(trace: Path) -> Path:
        db = tmp_path / "replay.db"
        monkeypatch.setenv("VITALS_DATABASE_URL", f"sqlite:///{db}")
        monkeypatch.setenv("VITALS_SMS_OUTBOX_PATH", str(tmp_path / "outbox.jsonl"))
        assert main(["replay", str(trace), "--register", "--quiet"]) == 0
        return db

    return replay
