"""restic's human units, converted once to base units (bytes and seconds).

restic formats sizes with binary units and three decimals (``5.661 MiB``), whole
bytes as ``584 B`` (``584B`` up to 0.9.3), and durations as ``M:SS`` or
``H:MM:SS`` with hours past 24 (no days). Anything else raises ``ValueError``.
"""

from __future__ import annotations

import math
from datetime import datetime

from pushrestic.parsers.patterns import LazyPattern

_UNIT_EXPONENT = {"B": 0, "KiB": 1, "MiB": 2, "GiB": 3, "TiB": 4, "PiB": 5}

# Patterns use [0-9], not \d: restic prints ASCII digits only, and \d would also
# accept other scripts' digits, which int() and float() then read.
SIZE_PATTERN = r"[0-9]+(?:\.[0-9]+)?[ ]?(?:[KMGTP]iB|B)"
_SIZE = LazyPattern(r"([0-9]+(?:\.[0-9]+)?)[ ]?([KMGTP]iB|B)")
_DURATION = LazyPattern(r"(?:([0-9]+):)?([0-9]+):([0-9][0-9])")
_TIMESTAMP = LazyPattern(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]+))?(Z|[+-][0-9]{2}:[0-9]{2})"
)


def parse_size(text: str) -> int:
    """``'5.661 MiB'`` -> 5935988. Raises ValueError on anything that is not a size."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a restic size: {text!r}")
    number, unit = match.groups()
    if unit == "B":
        if "." in number:
            raise ValueError(f"not a restic size: {text!r}")
        return int(number)
    value = float(number) * (1 << 10 * _UNIT_EXPONENT[unit])
    if not math.isfinite(value):
        raise ValueError(f"not a restic size (too large): {text[:40]!r}")
    return round(value)


def parse_duration(text: str) -> int:
    """``'1:02:03'`` -> 3723, ``'0:07'`` -> 7. Raises ValueError on nonsense."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a restic duration: {text!r}")
    hours, minutes, seconds = match.groups()
    if int(seconds) >= 60 or (hours is not None and int(minutes) >= 60):
        raise ValueError(f"not a restic duration: {text!r}")
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds)


def parse_timestamp(text: str) -> float:
    """An RFC 3339 time as restic's JSON writes it (nanoseconds, offset) -> Unix seconds.

    The fraction is added as a float, so precision is that of a float (about a
    microsecond for today's times). Raises ValueError on anything else.
    """
    match = _TIMESTAMP.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not an RFC 3339 time: {text[:80]!r}")
    base, fraction, zone = match.groups()
    zone = "+00:00" if zone == "Z" else zone
    try:
        moment = datetime.fromisoformat(f"{base}{zone}")
        seconds = moment.timestamp()
    except (ValueError, OverflowError) as error:
        raise ValueError(f"not an RFC 3339 time: {text[:80]!r} ({error})") from None
    return seconds + (float(f"0.{fraction}") if fraction else 0.0)
