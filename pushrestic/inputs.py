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
import re
import sys
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import BinaryIO

from pushrestic.constants import MAX_LINE
from pushrestic.errors import InputError, InputUnreadable
from pushrestic.parsers.restic import SKIPPABLE_PREFIXES

BLOCK_SIZE = 1 << 20
STDIN = "-"

__all__ = ["BLOCK_SIZE", "MAX_LINE", "STDIN", "LineReader", "input_mtime", "open_input"]
# How a block is taken apart depends on the lines of the block before: below
# this average length (bytes), searched in place; from it, cut into lines.
SCAN_BELOW_AVERAGE_LINE = 200


@dataclass(slots=True)
class LineReader:
    """Numbered lines from a binary stream. ``lines`` counts every line read, skipped or not.

    Lines are taken a block at a time. Of the lines of a block that start with one
    of the ``skip`` prefixes, only the first is passed on: they are all alike to
    the parsers, and one is enough to show what they mark (a backup in progress).
    Every other line is passed on, with its exact number.
    """

    stream: BinaryIO
    source: str
    skip: Sequence[bytes] = SKIPPABLE_PREFIXES
    lines: int = 0
    empty: bool = True

    def __iter__(self) -> Iterator[tuple[int, str]]:
        # A prefix with a newline in it can never start a line.
        skip = tuple(prefix for prefix in self.skip if b"\n" not in prefix)
        others = _others_pattern(skip)
        carry = b""
        number = 0
        scan = _search_in_place(0, 0)
        while True:
            block = self._read()
            if not block:
                break
            self.empty = False
            if b"\0" in block:
                raise InputError("binary data (a NUL byte), not a text log", source=self.source)
            last = block.rfind(b"\n")
            if last < 0:  # no line ends in this block
                carry = carry + block if carry else block
                if len(carry) > MAX_LINE:  # one endless line: keep its start only
                    carry = carry[:MAX_LINE]
                continue
            first = block.find(b"\n")
            head = carry + block[:first] if carry else block[:first]
            carry = block[last + 1 :]
            skipped = head.startswith(skip)
            yield number + 1, head.decode("utf-8", "replace")
            if scan:
                found = _scan_block(block, first, last, others, skipped=skipped, number=number)
            else:
                found = _split_block(block, first, last, skip, skipped=skipped, number=number)
            count = yield from found
            scan = _search_in_place(len(block), count)
            number += count
        if carry:
            number += 1
            yield number, carry.decode("utf-8", "replace")
        self.lines = number

    def _read(self) -> bytes:
        try:
            return self.stream.read(BLOCK_SIZE)
        except OSError as error:
            raise InputUnreadable(
                f"cannot read: {error.strerror or error}", source=self.source
            ) from None


def _search_in_place(size: int, count: int) -> bool:
    """Whether to search the next block in place rather than cut it into lines, from
    the size of the last one and the lines that ended in it (none yet: search, that
    holds the least memory)."""
    return size < count * SCAN_BELOW_AVERAGE_LINE if size else True


# Both functions below take a block with at least one newline, the positions of
# its first and last newlines, whether a skippable line was passed on already
# (the block's first line is), and the number of the line before the block.
# They yield the lines after the first that are to be passed on (every line not
# skippable, and the first skippable line unless one was passed on), numbered,
# and return how many lines end in the block. Both give the same result; they
# differ in speed.


def _split_block(
    block: bytes, first: int, last: int, skip: tuple[bytes, ...], *, skipped: bool, number: int
) -> Generator[tuple[int, str], None, int]:
    """Cut the block into lines (memchr: fast for long lines) and test each one."""
    stream = io.BytesIO(block)
    stream.seek(first + 1)
    lines = stream.readlines()  # each with its newline, but for an unfinished last one
    if last + 1 < len(block):
        lines.pop()
    starts = list(map(bytes.startswith, lines, repeat(skip)))
    wanted = -1 if skipped or True not in starts else starts.index(True)
    index = -1
    for _ in range(starts.count(False)):
        index = starts.index(False, index + 1)
        if 0 <= wanted < index:
            yield number + wanted + 2, lines[wanted][:-1].decode("utf-8", "replace")
            wanted = -1
        yield number + index + 2, lines[index][:-1].decode("utf-8", "replace")
    if wanted >= 0:
        yield number + wanted + 2, lines[wanted][:-1].decode("utf-8", "replace")
    return len(lines) + 1


def _scan_block(
    block: bytes, first: int, last: int, others: re.Pattern[bytes], *, skipped: bool, number: int
) -> Generator[tuple[int, str], None, int]:
    """Search the block for the newlines not followed by a skippable prefix (fast
    for short lines: only those lines are visited), counting the lines between."""
    # `at` is the number of the line after the newline at `pos`.
    pos, at = first, number + 2
    for match in others.finditer(block, first, last):
        newline = match.start()
        if newline != pos:  # skippable lines from pos + 1 to newline
            if not skipped:
                skipped = True
                yield at, _line_after(block, pos)
            at += block.count(b"\n", pos + 1, newline + 1)
        yield at, _line_after(block, newline)
        pos = block.index(b"\n", newline + 1)
        at += 1
    if pos != last and not skipped:
        yield at, _line_after(block, pos)
    # One memchr() per line: faster than bytes.count() unless lines are very short.
    return len(block) - len(block.replace(b"\n", b""))


def _line_after(block: bytes, newline: int) -> str:
    """The line that starts after the newline at ``newline`` (another newline ends it)."""
    return block[newline + 1 : block.index(b"\n", newline + 1)].decode("utf-8", "replace")


def _others_pattern(skip: tuple[bytes, ...]) -> re.Pattern[bytes]:
    """A newline followed by a line that does not start with one of ``skip``.

    Shortest prefixes first: blocks are searched in place when their lines are
    short, as -vv item lines are, and those have the shortest prefixes.
    """
    if not skip:
        return re.compile(b"\n")
    prefixes = sorted(skip, key=len)
    return re.compile(b"\n(?!" + b"|".join(re.escape(prefix) for prefix in prefixes) + b")")


def open_input(path: str) -> tuple[BinaryIO, str]:
    """Open ``path`` (``-`` for standard input) for reading; returns the stream and its name."""
    if path == STDIN:
        return sys.stdin.buffer, "<stdin>"
    try:
        if os.path.isdir(path):
            raise InputUnreadable("is a directory, not a log file", source=path)
        return open(path, "rb"), path  # closed by the caller
    except OSError as error:
        raise InputUnreadable(f"cannot open: {error.strerror or error}", source=path) from None


def input_mtime(path: str) -> float | None:
    """When the input file was last written (the run's end, for a log), or None for stdin."""
    if path == STDIN:
        return None
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None
