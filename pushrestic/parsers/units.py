"""restic's human units, converted once to base units (bytes and seconds).

restic formats sizes with binary units and three decimals (``5.661 MiB``), whole
bytes as ``584 B`` (``584B`` up to 0.9.3), and durations as ``M:SS`` or
``H:MM:SS`` with hours past 24 (no days). Anything else raises ``ValueError``.
"""

from __future__ import annotations

import re
from datetime import datetime

_UNIT_EXPONENT = {"B": 0, "KiB": 1, "MiB": 2, "GiB": 3, "TiB": 4, "PiB": 5}

SIZE_PATTERN = r"\d+(?:\.\d+)?\s?(?:[KMGTP]iB|B)"
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s?([KMGTP]iB|B)")
_DURATION = re.compile(r"(?:(\d+):)?(\d+):(\d\d)")


def parse_size(text: str) -> int:
    """``'5.661 MiB'`` -> 5935988. Raises ValueError on anything that is not a size."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a restic size: {text!r}")
    number, unit = match.groups()
    if unit == "B" and "." in number:
        raise ValueError(f"not a restic size: {text!r}")
    return round(float(number) * 1024 ** _UNIT_EXPONENT[unit])


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

    Python keeps microseconds only; the nanosecond digits beyond them are dropped.
    """
    value = text.strip()
    match = re.fullmatch(r"(.+T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", value)
    if match is None:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    base, fraction, zone = match.groups()
    zone = "+00:00" if zone == "Z" else zone
    moment = datetime.fromisoformat(f"{base}{zone}")
    return moment.timestamp() + (float(f"0.{fraction}") if fraction else 0.0)
