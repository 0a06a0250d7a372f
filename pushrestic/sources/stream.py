"""Reading the input: a log file or standard input, as numbered text lines.

The input layer is the only place that touches files. It reads fixed-size
blocks, so memory stays constant however large the log is, and it drops, block
by block and before decoding, lines whose first bytes mark them as lines no
parser reports on (``SKIPPABLE_PREFIXES``: JSON status floods, ``-vv`` item
lines). Line numbers stay exact. Binary input (a NUL byte) is an error.

A named pipe (FIFO) given as the log is read like any stream once something
writes to it; one that no process opens for writing within
``FIFO_WAIT_SECONDS`` is refused (InputUnreadable) instead of blocking for
ever. Anonymous pipes (standard input, ``<(restic ...)`` as ``/dev/fd/N``) are
read as they are: they are never waited on.
"""

from __future__ import annotations

import functools
import io
import os
import re
import select
import stat
import sys
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import BinaryIO

from pushrestic.constants import MAX_LINE
from pushrestic.errors import InputError, InputUnreadable
from pushrestic.parsers.restic import SKIPPABLE_PREFIXES
from pushrestic.parsers.snapshots import LONG_LINE_PREFIXES, MAX_DOCUMENT

BLOCK_SIZE = 1 << 20
STDIN = "-"
#: How long a named pipe given as the log may wait for a process to open it for
#: writing (``restic ... > fifo &`` started just before or after pushrestic).
FIFO_WAIT_SECONDS = 10.0
_FIFO_POLL_SECONDS = 0.05

__all__ = [
    "BLOCK_SIZE",
    "FIFO_WAIT_SECONDS",
    "MAX_LINE",
    "STDIN",
    "LineReader",
    "input_mtime",
    "open_input",
]
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
        carry: bytes | bytearray = b""
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
                if not isinstance(carry, bytearray):  # grown in place: linear, however long
                    carry = bytearray(carry)
                carry += block
                if len(carry) > (limit := _line_limit(carry)):  # one endless line: its start
                    del carry[limit:]
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


def _line_limit(start: bytes | bytearray) -> int:
    """How long a line may grow before it is cut: MAX_LINE, but MAX_DOCUMENT for the one
    JSON document ``restic snapshots --json`` prints on one line (memory then grows
    with that document, up to MAX_DOCUMENT)."""
    return MAX_DOCUMENT if start.startswith(LONG_LINE_PREFIXES) else MAX_LINE


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


def open_input(
    path: str,
    *,
    fifo_wait: float = FIFO_WAIT_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[BinaryIO, str]:
    """Open ``path`` (``-`` for standard input) for reading; returns the stream and its name.

    The file is opened without blocking, so that a named pipe with no writer cannot
    hang the open; such a pipe is waited on for up to ``fifo_wait`` seconds
    (``clock`` and ``sleep`` measure and pass the time) for a process to open it
    for writing. The stream returned reads blocking, as any file does. Raises
    InputUnreadable for a file that cannot be opened, a directory, or a named pipe
    that nothing opened for writing in time.
    """
    if path == STDIN:
        if sys.stdin.isatty():
            # Unbuffered: a terminal ends its input with one Ctrl-D, one empty read,
            # which a buffered read of a whole block takes for a short read only.
            return open(sys.stdin.fileno(), "rb", buffering=0, closefd=False), "<stdin>"
        return sys.stdin.buffer, "<stdin>"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise InputUnreadable(f"cannot open: {error.strerror or error}", source=path) from None
    try:
        status = os.fstat(fd)
        if stat.S_ISDIR(status.st_mode):
            raise InputUnreadable("is a directory, not a log file", source=path)
        if stat.S_ISFIFO(status.st_mode) and status.st_dev != _pipe_device():
            _wait_for_writer(fd, path, fifo_wait, clock, sleep)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb"), path  # closed by the caller
    except OSError as error:
        os.close(fd)
        raise InputUnreadable(f"cannot open: {error.strerror or error}", source=path) from None
    except BaseException:
        os.close(fd)
        raise


@functools.cache
def _pipe_device() -> int:
    """The device of anonymous pipes (pipefs): ``/dev/fd/N`` of ``<(...)`` is one,
    a named pipe lives on a file system."""
    read_end, write_end = os.pipe()
    try:
        return os.fstat(read_end).st_dev
    finally:
        os.close(read_end)
        os.close(write_end)


def _wait_for_writer(
    fd: int,
    path: str,
    wait: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> None:
    """Return once a process holds the named pipe ``fd`` open for writing, or wrote
    to it and left; raise InputUnreadable when none did within ``wait`` seconds."""
    deadline = clock() + wait
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while not _writer_or_data(fd, poller):
        if clock() >= deadline:
            raise InputUnreadable(
                f"a named pipe (FIFO) that nothing opened for writing within {wait:g} s: "
                "start the program that writes to it first, or pipe the log to stdin",
                source=path,
            )
        sleep(_FIFO_POLL_SECONDS)


def _writer_or_data(fd: int, poller: select.poll) -> bool:
    """Whether the named pipe ``fd`` (read end, non-blocking) has data or a writer.

    A pipe shows a hang-up (POLLHUP) when no process holds it for writing, but only
    once a writer came: opening and closing the write end here makes that so. The
    write end is opened through ``/proc/self/fd``, the very pipe ``fd`` is, never by
    path (which may name something else by now). Where that cannot be done (no
    /proc, no write permission), only data or a writer that came and left count.
    """
    try:
        os.close(os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC))
        probed = True
    except OSError:
        probed = False
    events = 0
    for _, event in poller.poll(0):
        events |= event
    if events & select.POLLIN:
        return True
    if probed:
        return not events & select.POLLHUP
    return bool(events & select.POLLHUP)  # a writer came and left without writing


def input_mtime(path: str) -> float | None:
    """When the input file was last written (the run's end, for a log), or None for stdin."""
    if path == STDIN:
        return None
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None
