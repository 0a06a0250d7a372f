"""``restic stats``, text and ``--json``, for every version from 0.9.2 to 0.19.

:func:`parse_stats` takes numbered lines and gives one
:class:`~pushrestic.model.StatsResult` per counting mode (the later result of a mode wins);
a recognized line whose value does not parse raises :class:`~pushrestic.errors.InputError`,
other lines are ignored. What restic prints in each version, and how a mode restic does not
name is told from the counts: docs/design/parsers-stats.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from pushrestic.errors import InputError
from pushrestic.model import ResticOutput, StatsResult
from pushrestic.parsers.patterns import ascii_pattern
from pushrestic.parsers.units import SIZE_PATTERN, parse_size

NumberedLines = Iterable[tuple[int, str]]

RESTORE_SIZE = "restore-size"
FILES_BY_CONTENTS = "files-by-contents"
BLOBS_PER_FILE = "blobs-per-file"
RAW_DATA = "raw-data"
# The counts each mode makes (restic prints and encodes only non-zero ones).
_COUNTS_FILES = frozenset({RESTORE_SIZE, FILES_BY_CONTENTS, BLOBS_PER_FILE})
_COUNTS_BLOBS = frozenset({RAW_DATA, BLOBS_PER_FILE})

JSON_START = '{"total_size":'
_HEADER = ascii_pattern(r"Stats (?:for .+ )?in ([a-z][a-z-]*) mode:")
_VALUE = ascii_pattern(
    r"(Snapshots processed|Total Blob Count|Total File Count|Total Uncompressed Size"
    r"|Total Size|Compression Progress|Compression Ratio|Compression Space Saving):\s+(.+)"
)
_COUNT = ascii_pattern(r"[0-9]+")
_PERCENT = ascii_pattern(r"([0-9]+\.[0-9]+)%")
_RATIO = ascii_pattern(r"([0-9]+\.[0-9]+)x")
_SIZE = ascii_pattern(SIZE_PATTERN)

_TEXT_FIELDS = {
    "Snapshots processed": "snapshots",
    "Total Blob Count": "blobs",
    "Total File Count": "files",
    "Total Uncompressed Size": "uncompressed_size_bytes",
    "Total Size": "size_bytes",
    "Compression Progress": "compression_progress_ratio",
    "Compression Ratio": "compression_ratio",
    "Compression Space Saving": "compression_space_saving_ratio",
}
_JSON_COUNTS = {
    "total_size": "size_bytes",
    "snapshots_count": "snapshots",
    "total_file_count": "files",
    "total_blob_count": "blobs",
    "total_uncompressed_size": "uncompressed_size_bytes",
}
_JSON_PERCENTS = {
    "compression_progress": "compression_progress_ratio",
    "compression_space_saving": "compression_space_saving_ratio",
}


def detect(head: list[tuple[int, str]]) -> bool:
    """Whether the input (its first lines) is ``restic stats`` output: its first
    non-empty line is ``scanning...``, a stats header or value line, or the JSON
    object restic starts with ``total_size``.

    Only the first line counts, so that a line a file name injects into a backup's
    ``-vv`` log (restic up to 0.15.1 prints names raw) cannot pass for stats.
    """
    for _, line in head:
        stripped = line.strip()
        if stripped:
            return (
                stripped == "scanning..."
                or stripped.startswith(JSON_START)
                or _HEADER.fullmatch(stripped) is not None
                or _VALUE.fullmatch(stripped) is not None
            )
    return False


def parse_stats(lines: NumberedLines, *, source: str = "") -> ResticOutput:
    """``restic stats`` output (text, JSON, or runs of both): numbered lines in,
    a ResticOutput with one StatsResult per counting mode out.

    Raises InputError for a value that does not parse, and when no complete result
    (one with its total size) and no fatal error is found.
    """
    results: dict[str, StatsResult] = {}
    block: dict[str, Any] | None = None  # the text block being read
    block_line = 0
    fatal: str | None = None
    count = 0

    def close() -> None:
        nonlocal block
        if block is not None and "size_bytes" in block:
            result = _result(block.pop("mode", None), block)
            results.pop(result.mode, None)  # the later result of a mode wins, and goes last
            results[result.mode] = result
        elif block is not None and fatal is None:
            raise InputError(
                "restic stats output without its 'Total Size' line", source=source, line=block_line
            )
        block = None

    for number, raw in lines:
        count = max(count, number)
        line = raw.strip()
        if not line:
            continue
        if line.startswith(JSON_START):
            close()
            result = _json_result(_json_object(line, number, source), number, source)
            results.pop(result.mode, None)
            results[result.mode] = result
            continue
        if m := _HEADER.fullmatch(line):
            close()
            block, block_line = {"mode": m.group(1)}, number
            continue
        if m := _VALUE.fullmatch(line):
            field = _TEXT_FIELDS[m.group(1)]
            if block is None or field in block:  # 0.9.2 prints no header: a new result
                close()
                block, block_line = {}, number
            block[field] = _text_value(field, m.group(2).strip(), number, source)
            continue
        if fatal is None and (
            line.startswith("Fatal: ") or line.startswith("unable to create lock in backend: ")
        ):
            fatal = line
    close()
    if not results and fatal is None:
        raise InputError("restic stats output without any result", source=source)
    return ResticOutput(stats=tuple(results.values()), fatal=fatal, lines=count, recognized=True)


def infer_mode(files: int | None, blobs: int | None, compression: bool = False) -> str:
    """The counting mode a result without one must have been made in (see
    docs/design/parsers-stats.md)."""
    if compression or (blobs and not files):
        return RAW_DATA
    if blobs and files:
        return BLOBS_PER_FILE
    return RESTORE_SIZE


def _result(mode: str | None, values: dict[str, Any]) -> StatsResult:
    """A StatsResult from the values read; a count the mode makes but restic left out is 0."""
    compression = any(
        values.get(key) is not None
        for key in (
            "uncompressed_size_bytes",
            "compression_ratio",
            "compression_progress_ratio",
            "compression_space_saving_ratio",
        )
    )
    if mode is None:
        mode = infer_mode(values.get("files"), values.get("blobs"), compression)
    files = values.get("files")
    blobs = values.get("blobs")
    if mode in _COUNTS_FILES or mode in _COUNTS_BLOBS:  # a mode restic has
        files = (files or 0) if mode in _COUNTS_FILES else None
        blobs = (blobs or 0) if mode in _COUNTS_BLOBS else None
    return StatsResult(
        mode=mode,
        size_bytes=values["size_bytes"],
        snapshots=values.get("snapshots"),
        files=files,
        blobs=blobs,
        uncompressed_size_bytes=values.get("uncompressed_size_bytes"),
        compression_ratio=values.get("compression_ratio"),
        compression_progress_ratio=values.get("compression_progress_ratio"),
        compression_space_saving_ratio=values.get("compression_space_saving_ratio"),
    )


def _text_value(field: str, text: str, number: int, source: str) -> int | float:
    """One printed value in base units; raises InputError when it is not what restic prints."""
    try:
        if field in ("snapshots", "blobs", "files"):
            if _COUNT.fullmatch(text) is None:
                raise ValueError(f"not a count: {text[:40]!r}")
            return int(text)
        if field.endswith("_bytes"):
            if _SIZE.fullmatch(text) is None:
                raise ValueError(f"not a restic size: {text[:40]!r}")
            return parse_size(text)
        if field == "compression_ratio":
            if (m := _RATIO.fullmatch(text)) is None:
                raise ValueError(f"not a ratio like 1.25x: {text[:40]!r}")
            return float(m.group(1))
        if (m := _PERCENT.fullmatch(text)) is None:
            raise ValueError(f"not a percentage: {text[:40]!r}")
        return float(m.group(1)) / 100
    except ValueError as error:
        raise InputError(f"restic stats: {error}", source=source, line=number) from None


def _json_object(line: str, number: int, source: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        raise InputError(
            "restic stats --json: not a JSON object", source=source, line=number
        ) from None
    if not isinstance(record, dict):
        raise InputError("restic stats --json: not a JSON object", source=source, line=number)
    return record


def _json_result(record: dict[str, Any], number: int, source: str) -> StatsResult:
    values: dict[str, Any] = {}
    for key, field in _JSON_COUNTS.items():
        if key in record:
            value = record[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(
                    f"restic stats --json: {key!r} is not a whole number: {value!r:.40}",
                    source=source,
                    line=number,
                )
            values[field] = value
    ratio = _json_number(record, "compression_ratio", number, source)
    if ratio is not None:
        values["compression_ratio"] = ratio
    for key, field in _JSON_PERCENTS.items():
        percent = _json_number(record, key, number, source)
        if percent is not None:
            values[field] = percent / 100
    if values.get("uncompressed_size_bytes") == 0:  # omitted when 0, as in the text
        del values["uncompressed_size_bytes"]
    return _result(None, values)


def _json_number(record: dict[str, Any], key: str, number: int, source: str) -> float | None:
    if key not in record:
        return None
    value = record[key]
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            result = float(value)
        except OverflowError:
            result = math.inf
        if math.isfinite(result) and result >= 0:
            return result
    raise InputError(
        f"restic stats --json: {key!r} is not a number: {value!r:.40}", source=source, line=number
    )
