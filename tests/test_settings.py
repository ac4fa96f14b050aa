from __future__ import annotations

import pytest

from vitals.settings import Settings, settings_table


def test_environment_prefix_and_secrets_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VITALS_DATABASE_URL", "mysql+pymysql://root@db/vitals")
    monkeypatch.setenv("VITALS_TWILIO_ACCOUNT_SID", "AC123")
    monkeypatch.setenv("VITALS_TWILIO_AUTH_TOKEN", "s3cr3t-token")
    settings = Settings()
    assert settings.database_url == "mysql+pymysql://root@db/vitals"
    assert settings.twilio_enabled
    assert "s3cr3t-token" not in repr(settings)
    assert "s3cr3t-token" not in str(settings.model_dump())


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.window_seconds = 30  # type: ignore[misc]


def test_every_setting_is_documented() -> None:
    for variable, _default, description in settings_table():
        assert variable.startswith("VITALS_")
        assert description, f"{variable} has no description"


def test_oncall_phone_is_e164_and_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VITALS_ONCALL_PHONE", "+44 20 7946 0958")
    assert Settings().oncall_phone == "+442079460958"
    monkeypatch.setenv("VITALS_ONCALL_PHONE", "020 7946 0958")
    with pytest.raises(ValueError, match=r"must be E\.164") as refused:
        Settings()
    assert "7946" not in str(refused.value)  # a config error names the setting, not the number
