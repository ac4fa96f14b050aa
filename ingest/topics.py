"""MQTT topic contract: ``vitals/v1/{userId}/{deviceId}/{kind}`` (a pure helper)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.errors import InvalidPayload
from vocabulary import DeadLetterReason, PayloadKind

#: Everything under vitals/v1, deeper and shallower topics too: they are not the contract,
#: but they must become ``bad_topic`` dead letters rather than vanish unseen.
SUBSCRIPTION = "vitals/v1/#"
KINDS: frozenset[str] = frozenset(kind.value for kind in PayloadKind)
DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
#: ASCII digits only: str.isdigit() also accepts '²' (int() then fails) and '١٢'.
USER_ID = re.compile(r"[1-9][0-9]{0,9}")
#: users.id is a signed 32-bit INT in the app's schema.
USER_ID_MAX = 2**31 - 1


@dataclass(frozen=True, slots=True)
class Topic:
    user_id: int
    device_id: str
    kind: str

    def __str__(self) -> str:
        return topic_for(self.user_id, self.device_id, self.kind)


def topic_for(user_id: int, device_id: str, kind: str) -> str:
    return f"vitals/v1/{user_id}/{device_id}/{kind}"


def parse_topic(topic: str) -> Topic:
    """Split a topic into user, device and kind; raise :class:`InvalidPayload` (``bad_topic``)
    naming the offending part otherwise."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != "vitals" or parts[1] != "v1":
        raise InvalidPayload(
            DeadLetterReason.BAD_TOPIC,
            f"topic {topic!r} is not vitals/v1/{{user}}/{{device}}/{{kind}}",
        )
    _, _, user, device, kind = parts
    if not USER_ID.fullmatch(user) or int(user) > USER_ID_MAX:
        raise InvalidPayload(
            DeadLetterReason.BAD_TOPIC, f"user {user!r} in topic is not a positive integer"
        )
    if not DEVICE_ID.fullmatch(device):
        raise InvalidPayload(
            DeadLetterReason.BAD_TOPIC, f"device {device!r} in topic is not a valid device id"
        )
    if kind not in KINDS:
        raise InvalidPayload(
            DeadLetterReason.BAD_TOPIC, f"kind {kind!r} in topic is not one of {sorted(KINDS)}"
        )
    return Topic(int(user), device, kind)
