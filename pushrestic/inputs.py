"""Reading the input: a log file or standard input, as numbered text lines.

The input layer is the only place that touches files. It reads fixed-size
blocks, so memory stays constant however large the log is, and it drops, block
by block and before decoding, lines whose first bytes mark them as lines no
parser reports on (``SKIPPABLE_PREFIXES``: JSON status floods, ``-vv`` item
lines). Line numbers stay exact. Binary input (a NUL byte) is an error.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from pushrestic.errors import InputError, InputUnreadable
from pushrestic.parsers.restic import SKIPPABLE_PREFIXES

BLOCK_SIZE = 1 << 20
# A single line longer than this is cut: restic never prints one, a binary or
# corrupted file may, and memory must stay bounded.
MAX_LINE = 1 << 20
STDIN = "-"


@dataclass(slots=True)
class LineReader:
    """Numbered lines from a binary stream. ``lines`` counts every line read, skipped or not."""

    stream: BinaryIO
    source: str
    skip: Sequence[bytes] = SKIPPABLE_PREFIXES
    lines: int = 0
    empty: bool = True

    def __iter__(self) -> Iterator[tuple[int, str]]:
        markers = [b"\n" + prefix for prefix in self.skip]
        carry = b""
        number = 0
        while True:
            block = self._read()
            if not block:
                break
            self.empty = False
            if b"\0" in block:
                raise InputError("binary data (a NUL byte), not a text log", source=self.source)
            data = carry + block if carry else block
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                if len(data) > MAX_LINE:  # one endless line: keep its start only
                    data = data[:MAX_LINE]
                carry = data
                continue
            body, carry = data[:cut], data[cut:]
            count = body.count(b"\n")
            # Skipped lines are all alike to the parsers; one of them per block is
            # passed on, so that what they mark (a backup in progress) is not lost.
            # Fast path: every line of the block starts with a skippable prefix.
            # The first line has no newline before it, so it is checked on its own.
            if body.startswith(self.skip) and _count_prefixed(body, markers, count - 1) == count - 1:
                yield number + 1, body[: body.index(b"\n")].decode("utf-8", "replace")
                number += count
                continue
            passed_skippable = False
            for line in body.split(b"\n")[:-1]:
                number += 1
                if line.startswith(self.skip):
                    if passed_skippable:
                        continue
                    passed_skippable = True
                yield number, line.decode("utf-8", "replace")
        if carry:
            number += 1
            yield number, carry.decode("utf-8", "replace")
        self.lines = number

    def _read(self) -> bytes:
        try:
            return self.stream.read(BLOCK_SIZE)
        except OSError as error:
            raise InputUnreadable(f"cannot read: {error.strerror or error}", source=self.source) from None


def _count_prefixed(body: bytes, markers: list[bytes], wanted: int) -> int:
    """How many lines after the first start with one of the prefixes (``markers`` =
    newline + prefix), counting until ``wanted`` is reached. Markers that matched
    move to the front, so a flood of one kind of line costs one pass per block."""
    total = 0
    for marker in tuple(markers):
        found = body.count(marker)
        if found and marker is not markers[0]:
            markers.remove(marker)
            markers.insert(0, marker)
        total += found
        if total >= wanted:
            break
    return total


def open_input(path: str) -> tuple[BinaryIO, str]:
    """Open ``path`` (``-`` for standard input) for reading; returns the stream and its name."""
    if path == STDIN:
        return sys.stdin.buffer, "<stdin>"
    try:
        if os.path.isdir(path):
            raise InputUnreadable("is a directory, not a log file", source=path)
        return open(path, "rb"), path  # noqa: SIM115 - closed by the caller
    except OSError as error:
        raise InputUnreadable(f"cannot open: {error.strerror or error}", source=path) from None


def lines_of_text(text: str, source: str = "<text>") -> LineReader:
    """A LineReader over a string, for tests and environment-derived input."""
    return LineReader(io.BytesIO(text.encode()), source)


def input_mtime(path: str) -> float | None:
    """When the input file was last written (the run's end, for a log), or None for stdin."""
    if path == STDIN:
        return None
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None
