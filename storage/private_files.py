"""Files that hold patient data, readable and writable by their owner only (``0600``).

Whatever the process umask, a file made here is created ``0600``, and one found with
wider permissions is narrowed to ``0600`` when opened (a file made by an older version or
by hand). Used for the SMS outbox (phone numbers, texts) and the SQLite database (SQLite
gives its ``-wal`` and ``-shm`` files the database file's permissions).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TextIO

OWNER_ONLY = 0o600


def make_private(path: Path) -> None:
    """Create ``path`` empty if it does not exist; make it ``0600`` either way."""
    os.close(_open_private(path, os.O_WRONLY | os.O_CREAT))


def open_private_append(path: Path) -> TextIO:
    """``path`` opened for appending UTF-8 text, created or narrowed to ``0600``."""
    return os.fdopen(
        _open_private(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT), "a", encoding="utf-8"
    )


def _open_private(path: Path, flags: int) -> int:
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), OWNER_ONLY)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) & ~OWNER_ONLY:
            os.fchmod(fd, OWNER_ONLY)
    except BaseException:
        os.close(fd)
        raise
    return fd
