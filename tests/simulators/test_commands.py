"""The simulate / import / score / plot commands, through their own argparse parsers."""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import pytest

from simulators.errors import SimulatorError
from simulators.generate import Result
from simulators.plan import EVENT_LABEL, parse_event_rates
from simulators.trace_arrays import check_trace
from simulators.trace_io import companion_paths, read_labels, read_manifest, read_trace
from storage import session_factory
from storage.engine import create_engine_from_url
from storage.migrate import upgrade
from storage.repositories.alerts import AlertChange, open_alert
from storage.repositories.people import add_user, normalize_e164
from storage.types import utc_from_ms
from vitals.commands import plot, score, simulate, trace_import
from vitals.errors import VitalsError
from vitals.settings import Settings


def run(*argv: str, db: str = "sqlite:///:memory:") -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    for module in (simulate, trace_import, score, plot):
        module.register(sub)
    args = parser.parse_args(list(argv))
    return int(args.handler(args, Settings(database_url=db)))


EVERYTHING = ",".join(f"{k}:0.2" for k in EVENT_LABEL)


def test_simulate_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    common = ["--users", "6", "--hours", "0.5", "--events", EVERYTHING]
    assert run("simulate", *common, "--seed", "3", "-o", str(tmp_path / "a.jsonl.gz")) == 0
    assert run("simulate", *common, "--seed", "3", "-o", str(tmp_path / "b.jsonl.gz")) == 0
    assert run("simulate", *common, "--seed", "4", "-o", str(tmp_path / "c.jsonl.gz")) == 0
    a, b, c = ((tmp_path / f"{n}.jsonl.gz").read_bytes() for n in "abc")
    assert a == b
    assert a != c
    assert (tmp_path / "a.labels.jsonl").read_bytes() == (tmp_path / "b.labels.jsonl").read_bytes()
    assert gzip.decompress(a).count(b"\n") > 6 * 1800  # 1 accel payload per s per user


def test_population_trace_is_valid_and_labelled(tmp_path: Path) -> None:
    out = tmp_path / "pop.jsonl"
    rates = ",".join(f"{k}:0.3" for k in EVENT_LABEL)
    assert (
        run(
            "simulate",
            "--users",
            "20",
            "--hours",
            "1.5",
            "--seed",
            "9",
            "--events",
            rates,
            "-o",
            str(out),
        )
        == 0
    )
    payloads = list(read_trace(out))
    assert check_trace(payloads) == []
    assert {p["kind"] for p in payloads} == {"rr", "accel", "event"}
    labels_path, manifest_path = companion_paths(out)
    labels = read_labels(labels_path)
    # every event key placed for 30 % of 20 users: each label type is present
    assert {lb.type for lb in labels} >= set(EVENT_LABEL.values())
    assert sum(lb.type == "sos" for lb in labels) == sum(
        p["kind"] == "event" and p["event"] == "sos" for p in payloads
    )
    manifest = read_manifest(manifest_path)
    assert [u.user for u in manifest.users] == list(range(1, 21))
    assert manifest.user_hours == pytest.approx(30.0)
    for u in manifest.users:
        assert {p for c in u.contacts for p in [normalize_e164(c.phone)]}
        assert u.devices == (f"watch-{u.user:04d}",)
    assert {p["device"] for p in payloads} == {d for u in manifest.users for d in u.devices}


def test_waveforms_and_no_accel(tmp_path: Path) -> None:
    out = tmp_path / "w.jsonl.gz"
    assert (
        run(
            "simulate",
            "--users",
            "1",
            "--hours",
            "0.2",
            "--events",
            "",
            "--no-accel",
            "--waveforms",
            "ecg,ppg",
            "-o",
            str(out),
        )
        == 0
    )
    payloads = list(read_trace(out))
    assert check_trace(payloads) == []
    kinds = {p["kind"]: p for p in payloads}
    assert set(kinds) == {"rr", "ecg", "ppg"}
    assert kinds["ecg"]["fs"] == 250 and len(kinds["ecg"]["values"]) == 250
    assert kinds["ecg"]["device"] == "chest-0001"


def test_scenario_file_and_errors(tmp_path: Path, scenario_file: Path) -> None:
    out = tmp_path / "s.jsonl"
    assert run("simulate", "--scenario", str(scenario_file), "-o", str(out)) == 0
    labels = read_labels(companion_paths(out)[0])
    assert len(labels) == 12
    with pytest.raises(SimulatorError, match="'walk' is not one of"):
        parse_event_rates("af:0.1,walk:0.2")
    with pytest.raises(SimulatorError, match="FRACTION"):
        parse_event_rates("af:2")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"users": [{"user": 1, "events": [{"type": "af", "at": "25:00"}]}]}))
    with pytest.raises(VitalsError, match="not a clock time"):
        run("simulate", "--scenario", str(bad), "-o", str(tmp_path / "x.jsonl"))


def test_score_and_plot_commands(
    tmp_path: Path, scenario_trace: Result, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path}/v.db"
    engine = create_engine_from_url(db)
    upgrade(engine)  # reading commands refuse a database that is not there
    # a database holding nothing of the trace is refused, not scored as all-zero
    with pytest.raises(VitalsError, match="holds no reading and no alert"):
        run("score", str(scenario_trace.labels_path), "--json", db=db)
    af_label = next(lb for lb in read_labels(scenario_trace.labels_path) if lb.type == "arrhythmia")
    with session_factory(engine).begin() as session:  # one alert, of another type
        add_user(session, open_id="score-test", user_id=af_label.user)
        at = utc_from_ms(af_label.start_ms)
        change = AlertChange(af_label.user, "high_stress", "low", at, at, "stress")
        open_alert(session, change)
    engine.dispose()
    assert run("score", str(scenario_trace.labels_path), "--json", db=db) == 0
    data = json.loads(capsys.readouterr().out)
    af = next(t for t in data["types"] if t["alert_type"] == "arrhythmia")
    assert (af["events"], af["detected"], af["false_alerts"]) == (1, 0, 0)
    assert data["user_hours"] == pytest.approx(12.5)
    image = tmp_path / "u8.png"
    assert run("plot", str(scenario_trace.trace), "--user", "8", "--db", db, "-o", str(image)) == 0
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert image.stat().st_size > 20_000
