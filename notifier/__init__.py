"""Notifier: SMS text rendering, recipients, Twilio sender, retries, escalation, ACK and
status webhooks."""
