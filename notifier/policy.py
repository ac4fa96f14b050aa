"""Which alerts text whom, how often, how fast they escalate and how sends are retried."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from notifier.delivery import RetryBounds
from notifier.machine import EscalationPolicy
from vocabulary import AlertKind, Severity


@dataclass(frozen=True)
class NotificationPolicy:
    """Every number of the notifier, with its default.

    Attributes
    ----------
    text_severities : frozenset[str]
        Severities that text contacts. Default high and critical: the alert table of
        ``docs/architecture.md`` (low/medium stress alerts stay in-app).
    text_high_stress : bool
        Text ``high_stress`` alerts too, whatever their severity (default False: in-app
        only, as the alert table of ``docs/architecture.md`` says).
    escalation_delay_s : float
        Unacknowledged for this long after a text, the next contact is texted. Default
        300 s (``docs/readme/notifier.md``, "The escalation timeline"): long enough to
        read and answer a text, short enough for a fall or SOS, where minutes matter.
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
    critical_escalation_delay_s, fast_escalation_delay_s : float
        The escalation delay of critical alerts (default 180 s) and of falls and SOS
        presses (default 120 s; ``fast_kinds``): a faller who cannot get up is harmed
        by every minute on the floor — lying for an hour or more goes with serious injury,
        hospital admission and death within the year (Fleming & Brayne, "Inability to get
        up after falling, subsequent time on floor, and summoning help", BMJ 2008;337:a2263).
        ``escalation_delay_s`` (300 s) applies to the rest (high severity).
    text_rounds : int
        Passes over the contacts by text before anyone is called (default 2).
    call_contacts : bool
        After the text rounds, call each contact (Twilio voice: the alert is read out,
        "press 1 to acknowledge"). Default True.
    oncall_phone : str | None
        E.164 number called last (a nurse line, a monitoring centre): ``VITALS_ONCALL_PHONE``.
        Without it, the last step puts the alert on the clinicians' queue (an
        ``escalated_to_clinicians`` event the console shows).
    public_base_url : str | None
        The API's public URL: voice webhooks (status, keypress) and the alert link in texts.
    """

    text_severities: frozenset[str] = frozenset({Severity.HIGH, Severity.CRITICAL})
    text_high_stress: bool = False
    escalation_delay_s: float = 300.0
    max_texts_per_user_per_hour: int = 10
    rate_limit_exempt_kinds: frozenset[str] = field(
        default_factory=lambda: frozenset({AlertKind.SOS})
    )
    max_attempts: int = 5
    retry_for_s: float = 900.0
    backoff_base_s: float = 2.0
    backoff_cap_s: float = 60.0
    resend_unconfirmed: bool = False
    status_callback_url: str | None = None
    critical_escalation_delay_s: float = 180.0
    fast_escalation_delay_s: float = 120.0
    fast_kinds: frozenset[str] = frozenset({AlertKind.SOS, AlertKind.FALL_DETECTED})
    text_rounds: int = 2
    call_contacts: bool = True
    oncall_phone: str | None = None
    public_base_url: str | None = None

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts={self.max_attempts}: must be at least 1")
        if self.max_texts_per_user_per_hour < 1:
            raise ValueError(
                f"max_texts_per_user_per_hour={self.max_texts_per_user_per_hour}: must be ≥ 1"
            )
        delays = (
            self.escalation_delay_s,
            self.critical_escalation_delay_s,
            self.fast_escalation_delay_s,
            self.backoff_base_s,
            self.backoff_cap_s,
        )
        if min(delays) < 0:
            raise ValueError("escalation delays, backoff_base_s and backoff_cap_s must be ≥ 0")
        if self.text_rounds < 1:
            raise ValueError(f"text_rounds={self.text_rounds}: must be ≥ 1")

    def texts(self, kind: str, severity: str | None) -> bool:
        """Does an alert of this kind and severity text the contacts?"""
        if kind == AlertKind.SOS:
            return True
        if kind == AlertKind.HIGH_STRESS:
            return self.text_high_stress  # low/medium by design: severity does not decide
        return severity in self.text_severities

    def escalation_for(self, kind: str, severity: str | None) -> EscalationPolicy:
        """How an alert of this kind and severity escalates (falls and SOS fastest)."""
        if kind in self.fast_kinds:
            delay_s = self.fast_escalation_delay_s
        elif severity == Severity.CRITICAL:
            delay_s = self.critical_escalation_delay_s
        else:
            delay_s = self.escalation_delay_s
        return EscalationPolicy(
            delay_s=delay_s, text_rounds=self.text_rounds, call_contacts=self.call_contacts
        )

    @property
    def retry_bounds(self) -> RetryBounds:
        """The retry part of the policy, as :func:`notifier.delivery.message_step` takes it."""
        return RetryBounds(
            max_attempts=self.max_attempts,
            retry_for_s=self.retry_for_s,
            backoff_base_s=self.backoff_base_s,
            backoff_cap_s=self.backoff_cap_s,
            resend_unconfirmed=self.resend_unconfirmed,
        )

    def retry_delay_s(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before retry number ``attempt`` (1 = first retry)."""
        return self.retry_bounds.retry_delay_s(attempt, rng.random())


WEBHOOK_PREFIX = "/webhooks/twilio"
STATUS_PATH = "/status"
INBOUND_PATH = "/sms"
VOICE_STATUS_PATH = "/voice/status"
VOICE_GATHER_PATH = "/voice/gather"


def status_callback_url(public_base_url: str | None, prefix: str = WEBHOOK_PREFIX) -> str | None:
    """The public URL Twilio posts delivery statuses to, or None without a public URL."""
    if not public_base_url:
        return None
    return public_base_url.rstrip("/") + prefix + STATUS_PATH


def webhook_url(public_base_url: str | None, path: str, prefix: str = WEBHOOK_PREFIX) -> str | None:
    """The public URL of one webhook (``path`` under the prefix), or None without one."""
    if not public_base_url:
        return None
    return public_base_url.rstrip("/") + prefix + path
