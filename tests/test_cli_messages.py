"""The CLI as a newcomer meets it, in subprocesses: every bad value, URL, missing database
or unreachable service is one line on stderr and a non-zero exit (no traceback unless
``-v``); reading commands never create a database and say which one they used."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest.embedded_broker import free_port
from vitals.cli import main


def vitals(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VITALS_")}
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "vitals.cli", *args],
        cwd=cwd,
        env=clean,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def one_line_error(run: subprocess.CompletedProcess[str], *needles: str) -> str:
    err = run.stderr.strip()
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if not line.startswith("database: ")]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], err
    return lines[0]


def in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The same command in this process (cheaper than a subprocess, for the outputs)."""
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def migrated(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'migrated.db'}"
    assert main(["db", "upgrade", "--db", url]) == 0
    return url


def test_reading_commands_refuse_a_missing_sqlite_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run = vitals("alerts", cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    one_line_error(run, "vitals.db does not exist", "--db")
    assert "database: sqlite:///vitals.db" in run.stderr  # it says which one it used
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VITALS_DATABASE_URL", raising=False)
    for args in (("status",), ("keys", "list"), ("users", "list"), ("api",), ("run",)):
        code, _, err = in_process(capsys, *args)
        assert code == 2 and "vitals.db does not exist" in err, (args, err)
    assert not (tmp_path / "vitals.db").exists()  # and never creates it
    labels = tmp_path / "t.labels.jsonl"
    labels.write_text("")
    run = vitals("score", str(labels), cwd=tmp_path)
    assert run.returncode == 2
    one_line_error(run, "does not exist")


def test_db_flag_and_environment_choose_the_database(tmp_path: Path, migrated: str) -> None:
    run = vitals("users", "list", "--db", migrated, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert f"database: {migrated}" in run.stderr
    run = vitals("users", "list", cwd=tmp_path, env={"VITALS_DATABASE_URL": migrated})
    assert run.returncode == 0 and f"database: {migrated}" in run.stderr


def test_unmigrated_database_says_run_db_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).execute("CREATE TABLE other (x INTEGER)").connection.close()
    run = vitals("alerts", "--db", f"sqlite:///{path}", cwd=tmp_path)
    assert run.returncode == 2
    one_line_error(run, "not migrated", "run `vitals db upgrade")


def test_unreachable_mysql_is_one_line(tmp_path: Path) -> None:
    url = f"mysql+pymysql://root@127.0.0.1:{free_port()}/test"
    run = vitals("alerts", "--db", url, cwd=tmp_path)
    assert run.returncode == 2
    one_line_error(run, "cannot use database", "Connection refused")
    verbose = vitals("-v", "alerts", "--db", url, cwd=tmp_path)
    assert verbose.returncode == 2 and "Traceback" in verbose.stderr  # -v shows it


def test_bad_values_and_urls_are_one_line(tmp_path: Path, migrated: str) -> None:
    run = vitals("alerts", "--db", migrated, "--type", "fall", cwd=tmp_path)
    assert run.returncode == 2
    one_line_error(run, "--type", "invalid choice: 'fall'")
    run = vitals("alerts", "--db", migrated, "--since", "yesterday", cwd=tmp_path)
    assert run.returncode == 2
    one_line_error(run, "'yesterday' is not an ISO 8601 date")
    run = vitals("alerts", "--db", "postgres//nope", cwd=tmp_path)
    assert run.returncode == 2
    one_line_error(run, "not a SQLAlchemy URL")
    run = vitals("run", "--db", migrated, cwd=tmp_path, env={"VITALS_MQTT_URL": "http://x:1"})
    assert run.returncode == 2
    one_line_error(run, "VITALS_MQTT_URL='http://x:1'", "mqtt://")


def test_replay_errors_duplicates_and_progress(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl.gz"
    assert main(["simulate", "--users", "2", "--hours", "0.3", "--no-accel", "-o", str(trace)]) == 0
    db = f"sqlite:///{tmp_path / 'replay.db'}"

    port = free_port()
    run = vitals("replay", str(trace), "--via-mqtt", f"mqtt://127.0.0.1:{port}", cwd=tmp_path)
    assert run.returncode == 2
    one_line_error(run, "cannot publish", "Connection refused")

    readme = tmp_path / "README.md"
    readme.write_text("# not a trace\n\nsome words\n")
    run = vitals("replay", str(readme), "--db", db, cwd=tmp_path)
    assert run.returncode == 1
    assert "no line of" in run.stderr and "Traceback" not in run.stderr

    labels = str(tmp_path / "t.labels.jsonl")
    unreplayed = vitals("score", labels, "--db", db, cwd=tmp_path)  # only dead letters so far
    assert unreplayed.returncode == 2
    one_line_error(unreplayed, "holds no reading and no alert", "replay the trace")

    first = vitals("replay", str(trace), "--register", "--db", db, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "already in this database" not in first.stderr
    bar = first.stderr.replace("\r", "\n")
    assert "100%" in bar and "msg" in bar  # a bar with its total
    scored = vitals("score", labels, "--db", db, cwd=tmp_path)
    assert scored.returncode == 0, scored.stderr
    again = vitals("replay", str(trace), "--register", "--db", db, cwd=tmp_path)
    assert again.returncode == 0
    assert "already in this database" in again.stderr
    assert "0 readings, 0 alerts opened" in again.stdout  # an SOS is re-folded, idempotently


def test_alert_table_filters_and_ack(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "sos.jsonl"
    trace.with_name("sos.users.json").write_text(
        '{"users":[{"user":7,"open_id":"sim-7","name":"Ann Lee","devices":["w7"],'
        '"contacts":[]}],"start_ms":1763949600000,"end_ms":1763953200000}'
    )
    trace.write_text(
        '{"v":1,"user":7,"device":"w7","seq":1,"ts":1763949600000,"kind":"event","event":"sos"}\n'
    )
    db = f"sqlite:///{tmp_path / 'alerts.db'}"
    assert in_process(capsys, "replay", str(trace), "--register", "--quiet", "--db", db)[0] == 0
    code, out, _ = in_process(capsys, "alerts", "--db", db)
    assert code == 0
    header, row = out.splitlines()[:2]
    assert header.split()[:4] == ["id", "created", "(UTC)", "severity"]
    assert "sos" in row and "Ann Lee" in row and "active" in row
    alert_id = row.split()[0]
    window = ("--since", "2025-11-24", "--until", "2025-11-25")
    assert "sos" in in_process(capsys, "alerts", "--db", db, *window)[1]
    late = in_process(capsys, "alerts", "--db", db, "--since", "2025-11-25")
    assert late[1].strip() == "no alert matches"
    code, out, _ = in_process(capsys, "alerts", "ack", alert_id, "--db", db)
    assert code == 0 and f"alert {alert_id} acknowledged by cli:" in out
    assert "active+ack" in in_process(capsys, "alerts", "--db", db)[1]
    assert "cleared" not in in_process(capsys, "alerts", "--db", db, "--state", "active")[1]
    missing = vitals("alerts", "ack", "999", "--db", db, cwd=tmp_path)
    assert missing.returncode == 2
    one_line_error(missing, "alert 999 does not exist")
    users = in_process(capsys, "users", "list", "--db", db)[1].splitlines()
    assert users[0].split("\t") == ["id", "openId", "name"] and users[1].startswith("7\t")
    contacts = in_process(capsys, "contacts", "list", "--user", "7", "--db", db)[1]
    assert contacts.strip() == "user 7 has no emergency contact"


@pytest.mark.mosquitto
def test_run_without_broker_retries_visibly_and_status_says_disconnected(
    tmp_path: Path, migrated: str
) -> None:
    port = free_port()
    env = {
        "VITALS_DATABASE_URL": migrated,
        "VITALS_MQTT_URL": f"mqtt://127.0.0.1:{port}",
        "VITALS_MQTT_CLIENT_ID": "vitals-test-nobroker",
    }
    idle = vitals("status", cwd=tmp_path, env=env)
    assert idle.returncode == 1 and "NOT RUNNING" in idle.stdout
    log = tmp_path / "run.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "vitals.cli", "run"],
            cwd=tmp_path,
            env={**{k: v for k, v in os.environ.items() if not k.startswith("VITALS_")}, **env},
            stdout=sink,
            stderr=sink,
        )
    try:
        deadline = time.monotonic() + 60
        while b"unreachable" not in log.read_bytes():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        status = vitals("status", cwd=tmp_path, env=env)
        assert status.returncode == 1
        assert f"DISCONNECTED from mqtt://127.0.0.1:{port}" in status.stdout
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert "Traceback" not in log.read_text()


def test_a_database_command_does_not_load_the_signal_stack(tmp_path: Path, migrated: str) -> None:
    """`vitals users list` imports its own module, not NeuroKit2, Faust or matplotlib."""
    script = (
        "import sys; from vitals.cli import main; code = main(['users', 'list', '--db', "
        f"{migrated!r}]); print(sorted(m for m in ('neurokit2', 'faust', 'matplotlib') "
        "if m in sys.modules), code)"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.stdout.strip().splitlines()[-1] == "[] 0", run.stdout + run.stderr
