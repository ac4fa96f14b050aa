"""Which alerts text whom, how often, how fast they escalate and how sends are retried."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vitals.settings import Settings

SOS = "sos"
HIGH_STRESS = "high_stress"


@dataclass(frozen=True)
class NotificationPolicy:
    """Every number of the notifier, with its default.

    Attributes
    ----------
    text_severities : frozenset[str]
        Severities that text contacts. Default high and critical: the alert table of
        ``DESIGN.md`` (low/medium stress alerts stay in-app).
    text_high_stress : bool
        Text ``high_stress`` alerts too, whatever their severity (default False: in-app
        only, as DESIGN.md says).
    escalation_delay_s : float
        Unacknowledged for this long after a text, the next contact is texted. Default
        300 s (issue 6; DESIGN.md "escalation delay"): long enough to read and answer a
        text, short enough for a fall or SOS, where minutes matter.
    max_texts_per_user_per_hour : int
        Rate limit per user over a sliding hour, so a flapping detector cannot flood a
        family's phones (default 10, ``settings.sms_per_user_per_hour``). Texts over it
        are deferred until budget frees up, never dropped; the first text of a critical
        alert is never held back.
    rate_limit_exempt_kinds : frozenset[str]
        Alert kinds never held back by the rate limit: an SOS is a person asking for help,
        not a detector that can flap.
    max_attempts, retry_for_s : int, float
        A text is given up as failed (then the next contact is texted) only after at
        least ``max_attempts`` API calls *and* ``retry_for_s`` seconds (default 900)
        since it was claimed: throttling (429) and server errors (5xx) are the provider's
        bad minutes, which Twilio asks clients to ride out with backoff and retries
        ("Handling errors and retries", Twilio docs); five quick attempts alone would
        give up after ~30 s of a longer outage.
    backoff_base_s, backoff_cap_s : float
        Retry *n* (1-based) waits a uniform random time in [0, min(cap, base·2^(n-1))]:
        "full jitter" exponential backoff (M. Brooker, "Exponential Backoff And Jitter",
        AWS Architecture Blog, 2015), which spreads retries of many senders apart.
    resend_unconfirmed : bool
        A text whose API call may or may not have reached Twilio (the process died
        after committing the row, or the answer timed out) is first looked up through
        the provider. When the provider cannot be asked, it is *not* resent by default
        (at most once per contact; the next contact is texted instead). True resends it
        (at least once: a possible double text is accepted).
    status_callback_url : str | None
        Public URL of the status-callback webhook passed to Twilio with every text.
    """

    text_severities: frozenset[str] = frozenset({"high", "critical"})
    text_high_stress: bool = False
    escalation_delay_s: float = 300.0
    max_texts_per_user_per_hour: int = 10
    rate_limit_exempt_kinds: frozenset[str] = field(default_factory=lambda: frozenset({SOS}))
    max_attempts: int = 5
    retry_for_s: float = 900.0
    backoff_base_s: float = 2.0
    backoff_cap_s: float = 60.0
    resend_unconfirmed: bool = False
    status_callback_url: str | None = None

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts={self.max_attempts}: must be at least 1")
        if self.max_texts_per_user_per_hour < 1:
            raise ValueError(
                f"max_texts_per_user_per_hour={self.max_texts_per_user_per_hour}: must be ≥ 1"
            )
        if self.escalation_delay_s < 0 or self.backoff_base_s < 0 or self.backoff_cap_s < 0:
            raise ValueError("escalation_delay_s, backoff_base_s and backoff_cap_s must be ≥ 0")

    def texts(self, kind: str, severity: str | None) -> bool:
        """Does an alert of this kind and severity text the contacts?"""
        if kind == SOS:
            return True
        if kind == HIGH_STRESS:
            return self.text_high_stress  # low/medium by design: severity does not decide
        return severity in self.text_severities

    def retry_delay_s(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before retry number ``attempt`` (1 = first retry)."""
        ceiling = min(self.backoff_cap_s, self.backoff_base_s * 2.0 ** (attempt - 1))
        return rng.uniform(0.0, ceiling)


WEBHOOK_PREFIX = "/webhooks/twilio"
STATUS_PATH = "/status"
INBOUND_PATH = "/sms"


def status_callback_url(public_base_url: str | None, prefix: str = WEBHOOK_PREFIX) -> str | None:
    """The public URL Twilio posts delivery statuses to, or None without a public URL."""
    if not public_base_url:
        return None
    return public_base_url.rstrip("/") + prefix + STATUS_PATH


def policy_from_settings(settings: Settings) -> NotificationPolicy:
    """The policy the settings describe (escalation delay, rate limit, high_stress)."""
    return NotificationPolicy(
        text_high_stress=settings.text_high_stress,
        escalation_delay_s=float(settings.escalation_delay_seconds),
        max_texts_per_user_per_hour=settings.sms_per_user_per_hour,
        status_callback_url=status_callback_url(settings.public_base_url),
    )
