"""sources.command without a process: what a terminal line shows, as the wrapper keeps
it. The wrapped commands themselves (pass-through, parsing as it streams, exit
codes, signals, terminals) are in tests/integration/test_command.py."""

from __future__ import annotations

import pytest

from pushrestic.sources import command as runner


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        (b"plain line", b"plain line"),
        (b"abc\rxy", b"xyc"),
        (b"\r\x1b[2K\r\r\x1b[2KFiles:  1 new", b"Files:  1 new"),
        (b"[0:01] 50%\r\x1b[2K", b""),
        (b"\x1b[1;32mBacking up\x1b[0m done", b"Backing up done"),
        (b"50% done\r\x1b[Kall", b"all"),
        (b"abcdef\r\x1b[3C\x1b[K", b"abc"),
        (b"abcdef\r\x1b[3C\x1b[1K", b"    ef"),
        (b"ab\x08c", b"ac"),
        (b"\x1b]0;a window title\x07text", b"text"),
        (b"\x1b[5Gx", b"    x"),
        (b"up\x1b[1Aand on", b"upand on"),
    ],
)
def test_a_terminal_line_is_parsed_as_the_terminal_shows_it(written: bytes, shown: bytes) -> None:
    assert runner._screen(written) == shown


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (b"[0:01] 10%\r\x1b[2K[0:02] 20%", b"\r\x1b[2Ksnapshot 0123abcd saved"),
        (b"abcdef\rxy", b"z"),
        (b"[0:01] 10%\r\x1b[2", b"Ksaved"),  # an escape sequence cut in two
        (b"text \x1b]0;tit", b"le\x07more"),
    ],
)
def test_an_unfinished_terminal_line_kept_short_shows_the_same(before: bytes, after: bytes) -> None:
    assert runner._screen(runner._compact(before) + after) == runner._screen(before + after)
