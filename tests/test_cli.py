"""The CLI surface: subcommands listed, db commands, clear errors with exit status 2."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from vitals.cli import main

SUBCOMMANDS = ("demo", "run", "simulate", "replay", "score", "alerts", "api", "db")


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert f"\n    {name} " in out


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_each_subcommand_has_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([name, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: vitals {name}" in capsys.readouterr().out


def test_db_upgrade_check_users_contacts(
    empty_db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VITALS_DATABASE_URL", empty_db_url)
    assert main(["db", "upgrade"]) == 0
    assert main(["db", "check", "--all"]) == 0
    assert main(["users", "add", "--open-id", "oauth-1", "--name", "Ann"]) == 0
    user_id = int(capsys.readouterr().out.strip().splitlines()[-1])
    args = ["contacts", "add", "--user", str(user_id), "--name", "Bo"]
    assert main([*args, "--phone", "+14155550123", "--primary"]) == 0
    assert main([*args, "--phone", "0123"]) == 2
    captured = capsys.readouterr()
    assert "phone '0123' is not E.164" in captured.err
    assert main(["contacts", "list", "--user", str(user_id)]) == 0
    listing = capsys.readouterr().out
    assert "+14155550123" not in listing  # numbers are masked on screen
    assert "+1********23" in listing


def test_db_check_fails_on_mismatch(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE users (id INTEGER PRIMARY KEY)"))
    monkeypatch.setenv("VITALS_DATABASE_URL", sqlite_url.replace("sqlite", "sqlite", 1))
    # sqlite is migrated on open; the pre-existing users table stays short of columns
    assert main(["db", "check"]) == 1
    assert "users.openId: column is missing" in capsys.readouterr().out


def test_invalid_setting_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VITALS_WINDOW_SECONDS", "soon")
    assert main(["db", "current"]) == 2
    assert "VITALS_WINDOW_SECONDS='soon'" in capsys.readouterr().err
