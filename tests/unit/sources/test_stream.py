"""LineReader: exact line numbers, skippable lines dropped block by block, bounded memory.

The reader has two ways of taking a block apart (cut into lines, or searched in
place); which one it uses depends on the block before. Every behaviour test runs
with each forced, and ``reference_lines`` states the behaviour in the plainest
code: a line belongs to the block in which its newline is read; of the lines of
a block that start with a skippable prefix only the first is passed on.
"""

from __future__ import annotations

import io
import os
import threading
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pushrestic.errors import InputError, InputUnreadable
from pushrestic.parsers.restic import SKIPPABLE_PREFIXES
from pushrestic.sources import stream as inputs
from pushrestic.sources.stream import LineReader

STATUS = b'{"message_type":"status","percent_done":0.5,"total_files":19}'
VERBOSE = b'{"message_type":"verbose_status","action":"new","item":"/data/a","duration":0}'
SUMMARY = b'{"message_type":"summary","files_new":1,"snapshot_id":"2e8a0d58"}'
NEW = b"new       /data/a, saved in 0.002s (702 B added)"
UNCHANGED = b"unchanged /data/b"
MODIFIED = b"modified  /data/, saved in 0.006s (0 B added, 0 B stored, 955 B metadata)"
ERROR = b"error: open /data/secret: permission denied"


@pytest.fixture(params=["split", "scan"])
def strategy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Force one way of taking every block apart."""
    search = request.param == "scan"
    monkeypatch.setattr(inputs, "_search_in_place", lambda size, count: search)


def read(data: bytes, source: str = "log") -> tuple[list[tuple[int, str]], LineReader]:
    reader = LineReader(io.BytesIO(data), source)
    return list(reader), reader


def reference_lines(
    data: bytes, block_size: int, max_line: int, skip: Sequence[bytes] = SKIPPABLE_PREFIXES
) -> tuple[list[tuple[int, str]], int]:
    """What LineReader passes on, and how many lines it counts, written plainly."""
    passed: list[tuple[int, str]] = []
    carry = b""
    number = 0
    for start in range(0, len(data), block_size):
        data_so_far = carry + data[start : start + block_size]
        cut = data_so_far.rfind(b"\n") + 1
        if cut == 0:
            carry = data_so_far[:max_line] if len(data_so_far) > max_line else data_so_far
            continue
        carry = data_so_far[cut:]
        skipped = False
        for line in data_so_far[:cut].split(b"\n")[:-1]:
            number += 1
            if line.startswith(tuple(skip)):
                if skipped:
                    continue
                skipped = True
            passed.append((number, line.decode("utf-8", "replace")))
    if carry:
        number += 1
        passed.append((number, carry.decode("utf-8", "replace")))
    return passed, number


@pytest.mark.usefixtures("strategy")
def test_line_reader_numbers_every_line_and_passes_one_skippable_line() -> None:
    data = b"\n".join([STATUS, STATUS, ERROR, VERBOSE, STATUS, SUMMARY, b""])

    passed, reader = read(data)

    assert passed == [(1, STATUS.decode()), (3, ERROR.decode()), (6, SUMMARY.decode())]
    assert reader.lines == 6
    assert not reader.empty


@pytest.mark.usefixtures("strategy")
def test_line_reader_passes_the_first_skippable_line_of_each_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lines = [b"unchanged /data/%05d" % n for n in range(40)]  # 22 bytes each with its newline
    monkeypatch.setattr(inputs, "BLOCK_SIZE", 44)  # two lines end in every block

    passed, reader = read(b"\n".join([*lines, b""]))

    assert [number for number, _ in passed] == list(range(1, 41, 2))
    assert passed[1] == (3, "unchanged /data/00002")
    assert reader.lines == 40


@pytest.mark.usefixtures("strategy")
def test_line_reader_passes_a_skippable_line_after_others_in_its_block() -> None:
    data = b"\n".join([ERROR, SUMMARY, UNCHANGED, NEW, ERROR, MODIFIED, b""])

    passed, _ = read(data)

    assert [number for number, _ in passed] == [1, 2, 3, 5]


@pytest.mark.usefixtures("strategy")
def test_line_reader_passes_every_line_when_nothing_is_skippable() -> None:
    data = b"\n".join([STATUS, NEW, b""])

    passed = list(LineReader(io.BytesIO(data), "log", skip=()))

    assert passed == [(1, STATUS.decode()), (2, NEW.decode())]


@pytest.mark.usefixtures("strategy")
def test_line_reader_keeps_carriage_returns_and_skips_crlf_lines() -> None:
    data = b"\r\n".join([STATUS, STATUS, SUMMARY, UNCHANGED, b""])

    passed, reader = read(data)

    assert passed == [(1, STATUS.decode() + "\r"), (3, SUMMARY.decode() + "\r")]
    assert reader.lines == 4


@pytest.mark.usefixtures("strategy")
@pytest.mark.parametrize("last", [SUMMARY, STATUS, b"unfinished"])
def test_line_reader_passes_a_last_line_without_newline(last: bytes) -> None:
    passed, reader = read(b"\n".join([STATUS, STATUS, last]))

    assert passed[-1] == (3, last.decode())
    assert reader.lines == 3


@pytest.mark.usefixtures("strategy")
def test_line_reader_counts_empty_lines() -> None:
    passed, reader = read(b"\n\n" + SUMMARY + b"\n\n")

    assert passed == [(1, ""), (2, ""), (3, SUMMARY.decode()), (4, "")]
    assert reader.lines == 4


@pytest.mark.usefixtures("strategy")
def test_line_reader_rejects_binary_input_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inputs, "BLOCK_SIZE", 64)
    reader = LineReader(io.BytesIO(SUMMARY + b"\n" + b"x" * 100 + b"\0rest\n"), "dump.bin")
    passed: list[tuple[int, str]] = []

    with pytest.raises(InputError, match=r"^dump\.bin: binary data") as raised:
        passed.extend(reader)

    assert passed == [(1, SUMMARY.decode())]  # the block before the NUL was read
    assert not isinstance(raised.value, InputUnreadable)


def test_line_reader_reports_a_read_failure_as_unreadable() -> None:
    class Failing(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: object) -> int:
            raise OSError(5, "Input/output error")

    reader = LineReader(io.BufferedReader(Failing()), "disk.log")

    with pytest.raises(InputUnreadable, match=r"^disk\.log: cannot read: Input/output error"):
        list(reader)


def test_line_reader_reads_nothing_from_an_empty_input() -> None:
    passed, reader = read(b"")

    assert passed == []
    assert reader.empty
    assert reader.lines == 0


@pytest.mark.usefixtures("strategy")
def test_line_reader_cuts_a_line_longer_than_max_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inputs, "BLOCK_SIZE", 4)
    monkeypatch.setattr(inputs, "MAX_LINE", 10)

    passed, reader = read(b"x" * 25)

    assert passed == [(1, "x" * 10)]
    assert reader.lines == 1


@pytest.mark.usefixtures("strategy")
def test_line_reader_keeps_the_start_of_an_endless_line_then_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(inputs, "BLOCK_SIZE", 4)
    monkeypatch.setattr(inputs, "MAX_LINE", 10)
    data = b"a" * 30 + b"\nend\n"

    passed, reader = read(data)

    assert passed == reference_lines(data, 4, 10)[0]
    assert passed[0][1].startswith("a" * 10)
    assert len(passed[0][1]) < 30
    assert passed[1] == (2, "end")
    assert reader.lines == 2


@pytest.mark.usefixtures("strategy")
@pytest.mark.parametrize("block_size", [1, 2, 3, 5, 7, 11, 16, 23, 40, 64, 100, 1000])
def test_line_reader_gives_the_same_lines_wherever_blocks_end(
    monkeypatch: pytest.MonkeyPatch, block_size: int
) -> None:
    # Blocks end inside lines, inside prefixes ('{"message_ty|pe":"status"',
    # 'unch|anged '), inside a two-byte character, and right after newlines.
    lines = [STATUS, VERBOSE, STATUS, "Größe café".encode(), UNCHANGED, NEW, MODIFIED, UNCHANGED]
    data = b"\n".join([*lines, ERROR, *lines, SUMMARY, STATUS, b""])
    monkeypatch.setattr(inputs, "BLOCK_SIZE", block_size)

    passed, reader = read(data)

    assert (passed, reader.lines) == reference_lines(data, block_size, inputs.MAX_LINE)
    assert (4, "Größe café") in passed
    assert (9, ERROR.decode()) in passed


@pytest.mark.usefixtures("strategy")
def test_line_reader_drops_a_skippable_line_split_by_a_block_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    short = b'{"message_type":"status"}\n'  # 26 bytes
    monkeypatch.setattr(inputs, "BLOCK_SIZE", 40)  # the first block ends in '{"message_type'

    passed, reader = read(short * 4)

    # Lines 2 and 3 end in the second block: line 2 is passed on, line 3 dropped.
    assert [number for number, _ in passed] == [1, 2, 4]
    assert reader.lines == 4


_LINE = st.sampled_from(
    [STATUS, VERBOSE, SUMMARY, NEW, UNCHANGED, MODIFIED, ERROR, b"", b"\r", b"new", b"x" * 300]
) | st.binary(max_size=40).map(lambda raw: raw.replace(b"\0", b"."))


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(_LINE, max_size=60),
    ending=st.sampled_from([b"", b"\n"]),
    block_size=st.integers(min_value=1, max_value=400),
    ways=st.lists(st.booleans(), min_size=1, max_size=8),
)
def test_line_reader_behaves_as_its_plain_statement(
    lines: list[bytes], ending: bytes, block_size: int, ways: list[bool]
) -> None:
    """Whatever the lines, blocks, and way each block is taken apart (drawn in turn)."""
    data = b"\n".join(lines) + ending
    turns = ways * (len(data) + 1)
    with (
        mock.patch.object(inputs, "BLOCK_SIZE", block_size),
        mock.patch.object(inputs, "_search_in_place", side_effect=turns),
    ):
        passed, reader = read(data)

    assert (passed, reader.lines) == reference_lines(data, block_size, inputs.MAX_LINE)


class _Repeated(io.RawIOBase):
    """``chunk`` over and over: a long input of which only the reader holds any part."""

    def __init__(self, chunk: bytes, times: int) -> None:
        self._chunk = memoryview(chunk)
        self._left = len(chunk) * times
        self._at = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        size = min(len(buffer), self._left, len(self._chunk) - self._at)
        buffer[:size] = self._chunk[self._at : self._at + size]
        self._at = (self._at + size) % len(self._chunk)
        self._left -= size
        return size


@pytest.mark.parametrize("line", [STATUS, UNCHANGED, ERROR, b"x" * 5000])
def test_line_reader_memory_does_not_grow_with_the_input(line: bytes) -> None:
    # Blocks of 256 KiB, not 1 MiB: the same 24 blocks in and 8 at most held, in a
    # quarter of the time (every line is traced).
    with mock.patch.object(inputs, "BLOCK_SIZE", 256 * 1024):
        chunk = (line + b"\n") * (inputs.BLOCK_SIZE // (len(line) + 1) + 1)
        stream = io.BufferedReader(_Repeated(chunk, 24))
        tracemalloc.start()
        try:
            passed = sum(1 for _ in LineReader(stream, "big.log"))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    assert passed > 1
    assert peak < 8 * 256 * 1024  # a block, its lines, and what was carried over


# -- open_input: named pipes (FIFOs) and anonymous pipes ------------------------


class FakeClock:
    """A monotonic clock that only sleeping moves; ``on_sleep`` runs at each sleep."""

    def __init__(self, on_sleep: Callable[[int], None] | None = None) -> None:
        self.now = 0.0
        self.sleeps = 0
        self._on_sleep = on_sleep

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.sleeps += 1
        self.now += seconds
        if self._on_sleep is not None:
            self._on_sleep(self.sleeps)


def open_in_thread(path: str, clock: FakeClock) -> tuple[BinaryIO, str] | BaseException:
    """open_input in a thread, so that a test of a hang fails instead of hanging."""
    result: list[tuple[BinaryIO, str] | BaseException] = []

    def target() -> None:
        try:
            result.append(inputs.open_input(path, fifo_wait=10.0, clock=clock, sleep=clock.sleep))
        except BaseException as error:  # handed to the test
            result.append(error)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout=30)
    if thread.is_alive():  # blocked in open(): let it go, then fail
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(timeout=30)
        pytest.fail(f"open_input({path!r}) blocked waiting for a writer")
    return result[0]


def test_a_fifo_with_no_writer_is_refused_after_a_bounded_wait(tmp_path: Path) -> None:
    fifo = tmp_path / "restic.log"
    os.mkfifo(fifo)
    clock = FakeClock()
    result = open_in_thread(str(fifo), clock)
    assert isinstance(result, InputUnreadable), result
    assert "nothing opened for writing within 10 s" in str(result)
    assert str(fifo) in str(result)
    assert 10.0 <= clock.now < 11.0


def test_a_fifo_whose_writer_comes_during_the_wait_is_read(tmp_path: Path) -> None:
    fifo = tmp_path / "restic.log"
    os.mkfifo(fifo)

    def writer_comes(sleeps: int) -> None:
        if sleeps == 3:  # the writer writes everything and is gone before it is seen
            writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            os.write(writer, b"snapshot 45fbd684 saved\n")
            os.close(writer)

    clock = FakeClock(writer_comes)
    result = open_in_thread(str(fifo), clock)
    assert not isinstance(result, BaseException), result
    stream, source = result
    with stream:
        assert list(LineReader(stream, source)) == [(1, "snapshot 45fbd684 saved")]
    assert clock.sleeps == 3


def test_a_fifo_with_a_writer_that_has_not_written_yet_is_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "restic.log"
    os.mkfifo(fifo)
    writers: list[int] = []
    clock = FakeClock(lambda _: writers.append(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)))
    result = open_in_thread(str(fifo), clock)
    assert not isinstance(result, BaseException), result
    stream, source = result
    (writer,) = writers  # connected during the first wait, silent so far
    os.write(writer, b"Files: 1 new\nsnapshot 45fbd684 saved\n")
    os.close(writer)
    with stream:
        assert [line for _, line in LineReader(stream, source)] == [
            "Files: 1 new",
            "snapshot 45fbd684 saved",
        ]


@pytest.mark.parametrize("data", [b"", b"snapshot 45fbd684 saved\n"], ids=["empty", "written"])
def test_a_pipe_from_process_substitution_is_read_without_waiting(data: bytes) -> None:
    # `pushrestic push <(restic ...)` names the pipe /dev/fd/N; its writer may be gone
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, data)
        os.close(write_end)
        clock = FakeClock(lambda _: pytest.fail("waited on an anonymous pipe"))
        result = open_in_thread(f"/dev/fd/{read_end}", clock)
        assert not isinstance(result, BaseException), result
        stream, _ = result
        with stream:
            assert stream.read() == data
    finally:
        os.close(read_end)


def test_a_regular_file_is_opened_for_blocking_reads(tmp_path: Path) -> None:
    log = tmp_path / "restic.log"
    log.write_bytes(b"snapshot 45fbd684 saved\n")
    stream, source = inputs.open_input(str(log))
    with stream:
        assert os.get_blocking(stream.fileno())
        assert (stream.read(), source) == (b"snapshot 45fbd684 saved\n", str(log))


@pytest.mark.parametrize(
    ("name", "reason"), [("", "is a directory"), ("missing.log", "cannot open: No such file")]
)
def test_a_directory_or_a_missing_file_is_unreadable(
    tmp_path: Path, name: str, reason: str
) -> None:
    with pytest.raises(InputUnreadable, match=reason):
        inputs.open_input(str(tmp_path / name))


def test_a_fifo_that_cannot_be_probed_still_takes_a_writer_that_came_and_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open

    def no_proc(path: str, flags: int, *args: int) -> int:
        if str(path).startswith("/proc/self/fd/"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", no_proc)
    fifo = tmp_path / "restic.log"
    os.mkfifo(fifo)

    def writer_comes(sleeps: int) -> None:
        if sleeps == 2:
            os.close(real_open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    result = open_in_thread(str(fifo), FakeClock(writer_comes))
    assert not isinstance(result, BaseException), result
    with result[0] as stream:
        assert stream.read() == b""

    refused = open_in_thread(str(fifo), FakeClock())
    assert isinstance(refused, InputUnreadable), refused
