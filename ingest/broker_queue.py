"""Does the broker's queue bound look like Mosquitto's default? (a pure check of its config
file, when this process can read it).

Mosquitto keeps at most ``max_queued_messages`` QoS 1 messages per client session beyond
those in flight (default 1000, ``mosquitto.conf(5)``) and *drops* the rest with the log
line "Outgoing messages are being dropped". For the pipeline's persistent session that
bound is how much backlog survives a slow or stopped pipeline: a live run at the default
lost 55 % of a fast publisher's messages. Messages lost this way are still counted as seq
gaps; this check warns before it happens.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

#: Mosquitto's default ``max_queued_messages`` (mosquitto.conf(5)).
MOSQUITTO_DEFAULT_MAX_QUEUED = 1000
#: Where a broker on this machine (Debian/Ubuntu package) keeps its configuration.
LOCAL_MOSQUITTO_CONFIG = Path("/etc/mosquitto/mosquitto.conf")
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def mosquitto_queue_bound(config: Path) -> int | None:
    """The ``max_queued_messages`` a Mosquitto config sets (following ``include_dir``; the
    last setting wins), Mosquitto's default when it sets none, None when unreadable."""
    try:
        bound: int | None = None
        for line in _config_lines(config):
            key, _, value = line.partition(" ")
            if key == "max_queued_messages" and value.strip().lstrip("-").isdigit():
                bound = int(value.strip())
        return MOSQUITTO_DEFAULT_MAX_QUEUED if bound is None else bound
    except OSError:
        return None


def _config_lines(config: Path) -> list[str]:
    lines = []
    for raw in config.read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        if key == "include_dir":
            for included in sorted(Path(value.strip()).glob("*.conf")):
                lines.extend(_config_lines(included))
        else:
            lines.append(line)
    return lines


def broker_queue_warning(mqtt_url: str, config: Path | None) -> str | None:
    """A warning when the broker's queue bound is Mosquitto's default or lower; None when
    it is larger, unbounded (0 or negative), or cannot be read. Without an explicit
    ``config``, a broker on this machine is checked at :data:`LOCAL_MOSQUITTO_CONFIG`."""
    if config is None:
        if urlsplit(mqtt_url).hostname not in _LOCAL_HOSTS:
            return None
        config = LOCAL_MOSQUITTO_CONFIG
    bound = mosquitto_queue_bound(config)
    if bound is None or bound <= 0 or bound > MOSQUITTO_DEFAULT_MAX_QUEUED:
        return None
    return (
        f"the broker queues at most {bound} messages per session (max_queued_messages in "
        f"{config}; Mosquitto's default is {MOSQUITTO_DEFAULT_MAX_QUEUED}): a backlog beyond "
        "that is dropped while the pipeline is slow or down. Set e.g. max_queued_messages "
        "100000 (deploy/mosquitto/mosquitto.conf); losses show as vitals_seq_gaps_total"
    )
