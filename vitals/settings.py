"""The one typed settings object, built once at the entry point and passed down.

Every field can be set from the environment with the ``VITALS_`` prefix, e.g.
``VITALS_DATABASE_URL`` or ``VITALS_TWILIO_ACCOUNT_SID``. Library code never reads
``os.environ``; it receives the values it needs from here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage.errors import InvalidPhoneNumber
from storage.repositories.people import normalize_e164

DEFAULT_SQLITE_URL = "sqlite:///vitals.db"


class Settings(BaseSettings):
    """Runtime configuration of vitals (frozen).

    Secrets are :class:`pydantic.SecretStr` so that printing the settings never
    reveals them.
    """

    model_config = SettingsConfigDict(
        env_prefix="VITALS_", frozen=True, extra="ignore", hide_input_in_errors=True
    )

    # -- storage ------------------------------------------------------------
    database_url: str = Field(
        DEFAULT_SQLITE_URL,
        description="SQLAlchemy URL: sqlite:///file.db (embedded) or mysql+pymysql://user@host/db",
    )
    database_pool_size: int = Field(5, ge=1, description="Connections kept open (MySQL)")
    database_echo: bool = Field(False, description="Log every SQL statement (debugging only)")

    # -- MQTT ---------------------------------------------------------------
    mqtt_url: str = Field(
        "mqtt://127.0.0.1:1883",
        description="Broker for `vitals run`: mqtt://host:port or mqtts://host:port (TLS)",
    )
    mqtt_username: str | None = Field(None, description="Broker user name of the pipeline")
    mqtt_password: SecretStr | None = Field(None, description="Broker password of the pipeline")
    mqtt_client_id: str = Field("vitals-ingest", description="Persistent-session client id")
    mqtt_protocol: Literal["3.1.1", "5"] = Field("3.1.1", description="MQTT protocol version")
    mqtt_ca_file: Path | None = Field(None, description="CA bundle for mqtts:// (TLS)")
    mqtt_queue_size: int = Field(10_000, ge=1, description="Bound of the decode->worker queue")
    mqtt_broker_config: Path | None = Field(
        None,
        description="Mosquitto config checked at start-up for a default queue bound "
        "(unset: /etc/mosquitto/mosquitto.conf when the broker is on this machine)",
    )

    # -- windows and rules ----------------------------------------------------
    window_seconds: int = Field(60, ge=10, description="Length of a summary window (s)")
    window_lateness_seconds: int = Field(
        10, ge=0, description="How late (reading time) data may arrive for a window"
    )
    idle_flush_seconds: float = Field(
        150.0, gt=0, description="Close the open windows of a user silent this long (wall s)"
    )
    reconnect_grace_seconds: float = Field(
        10.0,
        ge=0,
        description="After (re)connecting to the broker, hold windows open this long (wall s) "
        "so the session's backlog may arrive after newer messages",
    )

    # -- input limits -----------------------------------------------------------
    max_reading_ahead_seconds: float = Field(
        300.0, gt=0, description="Readings dated further ahead of receive time are dead letters"
    )
    max_reading_age_days: float | None = Field(
        None, gt=0, description="Readings older than this are dead letters (unset: no limit)"
    )
    dead_letter_max_bytes: int = Field(
        16 * 1024, ge=256, description="Raw bytes kept of one dead letter (rest: SHA-256)"
    )
    dead_letter_quota_per_hour: int = Field(
        2000, ge=1, description="Dead letters one device may store per clock hour"
    )

    # -- SMS ------------------------------------------------------------------
    twilio_account_sid: str | None = Field(None, description="Twilio Account SID (AC...)")
    twilio_auth_token: SecretStr | None = Field(None, description="Twilio auth token")
    twilio_from_number: str | None = Field(None, description="E.164 sender number")
    twilio_messaging_service_sid: str | None = Field(None, description="Messaging Service SID")
    twilio_api_base_url: str | None = Field(
        None, description="Override of https://api.twilio.com (tests point it at a local server)"
    )
    sms_outbox_path: Path = Field(
        Path("outbox.jsonl"), description="Where texts go when no Twilio credentials are set"
    )
    escalation_delay_seconds: int = Field(
        300, ge=0, description="Unacknowledged -> next escalation step (high severity)"
    )
    escalation_critical_delay_seconds: int = Field(
        180, ge=0, description="Escalation delay of critical alerts"
    )
    escalation_fast_delay_seconds: int = Field(
        120, ge=0, description="Escalation delay of falls and SOS presses"
    )
    escalation_text_rounds: int = Field(
        2, ge=1, description="Passes over the contacts by text before calling them"
    )
    escalation_call_contacts: bool = Field(
        True, description="After the text rounds, call each contact (Twilio voice)"
    )
    oncall_phone: str | None = Field(
        None, description="E.164 number called last (else: the clinicians' queue)"
    )
    sms_per_user_per_hour: int = Field(10, ge=1, description="Texts per user per hour, at most")
    text_high_stress: bool = Field(False, description="Also text contacts for high_stress alerts")

    # -- HTTP API -------------------------------------------------------------
    api_host: str = Field("127.0.0.1", description="Bind address of `vitals api`")
    api_port: int = Field(8000, ge=1, le=65535, description="Port of `vitals api`")
    not_transmitting_seconds: int = Field(
        300, ge=30, description="A patient silent this long is shown as 'not transmitting'"
    )
    public_base_url: str | None = Field(
        None, description="Public URL of the API, used to validate Twilio webhook signatures"
    )
    api_max_body_bytes: int = Field(
        65_536, ge=1024, description="Largest request body `vitals api` reads (else 413)"
    )
    api_auth_failures_per_client: int = Field(
        20, ge=1, description="Failed authentications per client address per window (then 429)"
    )
    api_auth_failures_per_key: int = Field(
        10, ge=1, description="Failed authentications per API key prefix per window (then 429)"
    )
    api_auth_failure_window_seconds: int = Field(
        60, ge=1, description="Window of the two failed-authentication limits (s)"
    )
    api_audit_failure_rows_per_minute: int = Field(
        100, ge=1, description="Aggregated audit rows of refused authentications per minute"
    )
    api_docs: bool = Field(
        False, description="Serve Swagger UI at /docs (loads it from cdn.jsdelivr.net)"
    )

    # -- Kafka scale-out --------------------------------------------------------
    kafka_url: str = Field(
        "kafka://127.0.0.1:9092", description="Kafka bootstrap for bridge/worker"
    )
    kafka_topic: str = Field("vitals.readings", description="Topic of valid payloads")

    @field_validator("mqtt_url")
    @classmethod
    def _broker_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not parts.hostname:
            raise ValueError("must be mqtt://host:port or mqtts://host:port")
        try:
            parts.port  # noqa: B018 (raises on a port that is not a number)
        except ValueError as error:
            raise ValueError(f"bad port: {error}") from None
        return url

    @field_validator("oncall_phone")
    @classmethod
    def _oncall_e164(cls, phone: str | None) -> str | None:
        """The last number an escalation calls: a typo must stop start-up, not the call."""
        if not phone:
            return None
        try:
            return normalize_e164(phone)
        except InvalidPhoneNumber:  # its message repeats the number: phone numbers never
            raise ValueError(  # reach logs
                "must be E.164: '+', country code and number, 8 to 15 digits"
            ) from None

    @property
    def twilio_enabled(self) -> bool:
        """True when credentials are set: texts go to Twilio instead of the outbox."""
        return bool(self.twilio_account_sid and self.twilio_auth_token)


def settings_table() -> list[tuple[str, str, str]]:
    """(environment variable, default, description) for every setting, for docs and --help."""
    rows = []
    for name, field in Settings.model_fields.items():
        default = "" if field.default is None else str(field.default)
        rows.append((f"VITALS_{name.upper()}", default, field.description or ""))
    return rows
