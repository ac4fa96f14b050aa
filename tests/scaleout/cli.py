"""``python -m tests.scaleout.cli bridge|worker ...``: the ``vitals`` CLI with the scale-out
commands registered even before they are listed in ``vitals.commands.COMMANDS``."""

from __future__ import annotations

import sys

import vitals.cli
import vitals.commands
from vitals.commands import bridge, worker


def main() -> int:
    registered = vitals.commands.COMMANDS
    missing = tuple(m for m in (bridge, worker) if m not in registered)
    setattr(vitals.cli, "COMMANDS", (*registered, *missing))  # noqa: B010
    return vitals.cli.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
