"""The optional dependencies (``pip install 'vitals[EXTRA]'``) and the check that a command
needing one makes before it starts: a missing one is a user error naming the extra to
install, not a traceback.

``pip install vitals`` alone runs the pipeline (``vitals run``) and the API
(``vitals api``); side tools bring their own dependencies as extras (``pyproject.toml``).
"""

from __future__ import annotations

import sys
from importlib.util import find_spec

from vitals.errors import VitalsError

#: Modules each extra provides, with the distribution that installs each.
EXTRAS: dict[str, dict[str, str]] = {
    "plot": {"matplotlib": "matplotlib"},
    "import": {"wfdb": "wfdb"},
    "demo": {"amqtt": "amqtt"},
    "scaleout": {"faust": "faust-streaming", "aiokafka": "aiokafka"},
}


class MissingExtra(VitalsError):
    """A command needs an optional dependency that is not installed."""


def require_extra(extra: str) -> None:
    """Return when every module of ``extra`` can be imported.

    Raises
    ------
    MissingExtra
        Naming the missing distributions and the extra that installs them.

    Examples
    --------
    >>> require_extra("import")
    >>> require_extra("gpu")
    Traceback (most recent call last):
    ...
    KeyError: "no extra 'gpu' (plot, import, demo, scaleout)"
    """
    modules = EXTRAS.get(extra)
    if modules is None:
        raise KeyError(f"no extra {extra!r} ({', '.join(EXTRAS)})")
    missing = [dist for module, dist in modules.items() if not _installed(module)]
    if missing:
        names = " and ".join(missing)
        verb = "is" if len(missing) == 1 else "are"
        raise MissingExtra(
            f"{names} {verb} not installed: install the {extra} extra, "
            f"pip install 'vitals[{extra}]' (from a clone: pip install -e '.[{extra}]')"
        )


def _installed(module: str) -> bool:
    if module in sys.modules:  # imported already (faust's module object has no __spec__),
        return sys.modules[module] is not None  # or blocked (None), as in the tests
    return find_spec(module) is not None
