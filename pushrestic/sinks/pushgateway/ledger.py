"""The last-success ledger: each group's last success time, kept between runs.

A failed run must still report when the group last succeeded, and a Pushgateway
that restarted (or a report that waited in the spool) must not make that time
go backwards. One small file per group, ``LEDGER/<group id>``, holding a float;
written atomically. The rule itself ("never backwards, never from the future")
is :func:`pushrestic.model.latest_success`; this module only keeps its result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from pushrestic.errors import DeliveryError
from pushrestic.model import latest_success
from pushrestic.sinks.files import atomic_write, read_regular

LEDGER = "last-success"  # its directory's name inside the spool
_MAX_RECORD = 4096  # a float and a newline; never read an endless file


class Ledger:
    """The ledger in ``directory``; ``check`` makes sure the directory is safe to use
    (created 0700, the user's, writable by nobody else) and raises if it is not."""

    def __init__(self, directory: Path, *, check: Callable[[], None]) -> None:
        self.directory = directory
        self._check = check

    def last_success(self, group: str) -> float | None:
        """The last success time recorded for a group, or None (unknown or unreadable)."""
        try:
            raw = read_regular(self.directory / group, _MAX_RECORD)
            return float(raw.decode().strip()) if raw is not None else None
        except (DeliveryError, ValueError, UnicodeDecodeError):
            return None

    def record_success(self, group: str, when: float | None) -> None:
        """Remember a group's last success time, never moving it backwards or into the
        future. Raises DeliveryError (or UsageError for an unsafe directory)."""
        if when is None:
            return
        self._check()
        latest = latest_success(when, self.last_success(group), now=time.time())
        if latest is None:
            return
        atomic_write(self.directory / group, f"{latest!r}\n".encode())
