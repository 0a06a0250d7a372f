"""What pushrestic says on stderr, one line each: ``pushrestic: error: ...``,
``pushrestic: warning: ...`` and plain notes (``pushrestic: pushed 4 groups to ...``).
The log records of -v take the same form (see cli)."""

from __future__ import annotations

import sys
from typing import IO


def error(message: str) -> None:
    print(f"pushrestic: error: {message}", file=sys.stderr)


def warning(message: str) -> None:
    print(f"pushrestic: warning: {message}", file=sys.stderr)


def note(message: str) -> None:
    """One line on stderr that is neither an error nor a warning."""
    print(f"pushrestic: {message}", file=sys.stderr)


def is_terminal(stream: IO[str] | None) -> bool:
    """Whether ``stream`` (sys.stdin, sys.stderr) is a terminal; False when closed or absent."""
    try:
        return stream is not None and stream.isatty()
    except (ValueError, OSError):
        return False
