"""``python -m tests.scaleout.cli bridge|worker ...``: the ``vitals`` CLI with the scale-out
commands registered even before they are listed in ``vitals.commands.COMMANDS``."""

from __future__ import annotations

import sys

import vitals.cli
from vitals.commands import bridge, worker


def main() -> int:
    missing = tuple(m for m in (bridge, worker) if m not in vitals.cli.COMMANDS)
    vitals.cli.COMMANDS = (*vitals.cli.COMMANDS, *missing)
    return vitals.cli.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
