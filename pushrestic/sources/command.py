"""Wrap a command: pass its output through untouched, parse it as it streams, keep its code.

:func:`run_command` runs the command with its output on pipes (on a pseudo-terminal when
pushrestic's stdout is a terminal), passes every chunk through at once and unchanged, feeds
the lines of both streams to one incremental parser in constant memory, and delivers
SIGINT, SIGTERM and SIGHUP to the command exactly once. Why it works this way (the
pseudo-terminal, reaping, the process group in and out of a terminal, ``KillMode=mixed``):
docs/design/sources-command.md.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import re
import select
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any

from pushrestic.constants import FORMATS, MAX_LINE
from pushrestic.errors import InputError

if TYPE_CHECKING:
    from pushrestic.model import GroupOutput
    from pushrestic.parsers import RepositoryParser
    from pushrestic.parsers.autorestic import AutoresticParser
    from pushrestic.parsers.restic import ResticParser

__all__ = ["Wrapped", "run_command"]

log = logging.getLogger(__name__)

FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# What a terminal sends to its foreground process group (Ctrl-C, a hangup).
TERMINAL_SIGNALS = (signal.SIGINT, signal.SIGHUP)
CHUNK = 1 << 16  # a pipe's default capacity
# How long the pipes are still read after the command exited, while something
# (a background grandchild) holds them open.
DRAIN_SECONDS = 2.0
# How often the child is polled for its exit when the kernel gives no pidfd.
POLL_SECONDS = 0.05
# The first lines are kept to detect the format: at most this many bytes (and
# parsers.HEAD_LINES lines that are not skippable).
HEAD_BYTES = 1 << 20
# The most output of restic stats or snapshots --json kept to be parsed whole, in
# characters (restic prints a few lines; snapshots one, cut here at MAX_LINE as any other).
REPOSITORY_BYTES = 16 << 20
EXIT_NOT_FOUND = 127
EXIT_NOT_EXECUTABLE = 126


@dataclass(frozen=True, slots=True)
class Wrapped:
    """A wrapped command's run.

    ``exit_code`` is what a shell reports: the command's code, 127 when it was
    not found, 126 when it could not be executed, 128+N when signal N killed it.
    ``groups`` is what its output shows, parsed as it streamed (empty when it
    printed nothing or could not start); ``parse_error`` says why the output
    could not be parsed, if it could not. ``interrupted_by`` is the signal
    pushrestic received while the command ran (and forwarded, or knows the
    terminal delivered), the first if several; one received after the command
    exited, while its output is drained, is ignored.
    """

    argv: tuple[str, ...]
    exit_code: int
    groups: tuple[GroupOutput, ...]
    started_at: float
    ended_at: float
    duration_seconds: float
    interrupted_by: int | None
    start_error: str | None
    parse_error: InputError | None


def run_command(
    argv: Sequence[str],
    *,
    fmt: str = "auto",
    stdout: int = 1,
    stderr: int = 2,
    env: Mapping[str, str] | None = None,
) -> Wrapped:
    """Run ``argv``; its stdout goes to fd ``stdout``, its stderr to fd ``stderr``, unchanged.

    ``env`` is the command's environment (default: pushrestic's own).

    ``fmt`` is one of ``constants.FORMATS``; ``auto`` is autorestic when the
    command's name starts with ``autorestic`` or its first lines are
    autorestic's, else restic's output (text and JSON alike). Nothing is raised
    for a command that cannot be started or prints what cannot be parsed: the
    result says so. Raises ValueError for an empty ``argv`` or an unknown format.
    """
    args = tuple(argv)
    if not args:
        raise ValueError("no command to run")
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    name = os.path.basename(args[0]) or args[0]
    if fmt == "auto" and name.startswith("autorestic"):
        fmt = "autorestic"
    foreground = _terminal_foreground()
    terminal = _Terminal.open(stdout, stderr)
    resize = None if terminal is None else terminal.copy_size
    signals = _Signals(own_group=not foreground, on_resize=resize)
    log.debug(
        "running %s (%s; output on %s)",
        args,
        "foreground of a terminal: same process group" if foreground else "own process group",
        "pipes" if terminal is None else terminal.describe(),
    )
    started_at = time.time()
    start = time.monotonic()
    signals.install()
    try:
        try:
            proc = subprocess.Popen(
                args,
                stdout=subprocess.PIPE if terminal is None else terminal.slave,
                stderr=subprocess.PIPE if terminal is None or terminal.alone else terminal.slave,
                env=env,
                process_group=None if foreground else 0,
            )
        except OSError as error:
            code, reason = _start_failure(args[0], error)
            log.debug("could not start %s: %s", args[0], reason)
            return Wrapped(
                argv=args,
                exit_code=code,
                groups=(),
                started_at=started_at,
                ended_at=time.time(),
                duration_seconds=time.monotonic() - start,
                interrupted_by=signals.received,
                start_error=reason,
                parse_error=None,
            )
        if terminal is not None:
            terminal.started()  # only the command holds the other end now
        signals.started(proc.pid)
        parser = _StreamParser(fmt, f"<{name}>")
        with contextlib.ExitStack() as opened:
            streams = []
            if terminal is not None:
                streams.append(_Stream("output", terminal.master, stdout, parser, screen=True))
            pipes = (("stdout", proc.stdout, stdout), ("stderr", proc.stderr, stderr))
            for what, pipe, out in pipes:
                if pipe is not None:
                    opened.enter_context(pipe)
                    streams.append(_Stream(what, pipe.fileno(), out, parser))
            exited = _pump(proc.pid, tuple(streams), signals.exited)
        if exited is None:  # both pipes closed before the command exited
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
            exited = time.monotonic()
            signals.exited()
        ended_at = time.time() - (time.monotonic() - exited)
    finally:
        signals.restore()
        if terminal is not None:
            terminal.close()
    returncode = proc.wait()
    exit_code = 128 - returncode if returncode < 0 else returncode
    groups, parse_error = parser.finish()
    log.debug("%s exited %d (signal received: %s)", args[0], exit_code, signals.received)
    return Wrapped(
        argv=args,
        exit_code=exit_code,
        groups=groups,
        started_at=started_at,
        ended_at=ended_at,
        duration_seconds=exited - start,
        interrupted_by=signals.received,
        start_error=None,
        parse_error=parse_error,
    )


def _start_failure(program: str, error: OSError) -> tuple[int, str]:
    """The shell's exit code and a message for a command that could not be started."""
    if isinstance(error, FileNotFoundError):
        what = "no such file" if "/" in program else "command not found"
        return EXIT_NOT_FOUND, f"{what}: {program}"
    if isinstance(error, PermissionError):
        return EXIT_NOT_EXECUTABLE, f"permission denied: {program}"
    return EXIT_NOT_EXECUTABLE, f"cannot execute {program}: {error.strerror or error}"


def _terminal_foreground() -> bool:
    """True when pushrestic's process group is the foreground group of its terminal."""
    try:
        tty = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY)
    except OSError:  # no controlling terminal
        return False
    try:
        return os.tcgetpgrp(tty) == os.getpgrp()
    except OSError:
        return False
    finally:
        os.close(tty)


# -- the loop -----------------------------------------------------------------


def _pump(pid: int, streams: tuple[_Stream, ...], on_exit: Callable[[], None]) -> float | None:
    """Pass both pipes through and parse them until both end, or until DRAIN_SECONDS
    after the child exited (``on_exit`` is called when it is seen to). Returns when
    (monotonic) the child exited, or None if it was running when both pipes ended."""
    exited: float | None = None
    pidfd = _pidfd(pid)
    with selectors.DefaultSelector() as selector:
        for stream in streams:
            selector.register(stream.fd, selectors.EVENT_READ, stream)
        if pidfd is not None:
            selector.register(pidfd, selectors.EVENT_READ, None)
        try:
            open_streams = len(streams)
            while open_streams:
                timeout = _timeout(exited, polled=pidfd is None)
                if timeout is not None and timeout <= 0:
                    log.warning(
                        "the command exited %.1f s ago but its output is still open "
                        "(a background process?): no longer read",
                        DRAIN_SECONDS,
                    )
                    break
                # stdout before stderr whenever both are ready: restic prints its summary
                # to stdout and then its verdict ('Warning: ...', 'Fatal: ...') to stderr,
                # and a verdict read before its summary would be taken for an earlier run's.
                ready = sorted(
                    selector.select(timeout),
                    key=lambda item: streams.index(item[0].data) if item[0].data else len(streams),
                )
                for key, _ in ready:
                    stream = key.data
                    if stream is None:  # the pidfd: the child exited
                        selector.unregister(key.fd)
                        exited = time.monotonic()
                        on_exit()
                    elif not stream.read():
                        selector.unregister(key.fd)
                        open_streams -= 1
                if exited is None and pidfd is None and _has_exited(pid):
                    exited = time.monotonic()
                    on_exit()
        finally:
            if pidfd is not None:
                os.close(pidfd)
    for stream in streams:
        stream.end()
    if exited is None and _has_exited(pid):
        exited = time.monotonic()
        on_exit()
    return exited


def _timeout(exited: float | None, *, polled: bool) -> float | None:
    """How long to wait for the pipes: until the drain deadline once the child exited,
    else until its next poll (no pidfd), else for ever."""
    if exited is not None:
        return exited + DRAIN_SECONDS - time.monotonic()
    return POLL_SECONDS if polled else None


def _pidfd(pid: int) -> int | None:
    """A pidfd of the child (readable once it exited), or None where the kernel has none."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _has_exited(pid: int) -> bool:
    """Whether the child exited, without reaping it."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


class _Stream:
    """One of the command's outputs: passed through to ``out``, its lines fed to the parser.

    ``partial`` is the start of the line not finished yet, at most MAX_LINE bytes: a
    longer line is cut (as the input layer cuts it). ``screen``: the output is a
    pseudo-terminal's, whose lines are parsed as the terminal shows them (see
    :func:`_render`); its unfinished line is kept as rendered once it grows beyond
    MAX_LINE, so a line rewritten for ever (carriage returns) keeps what stays on screen.
    """

    __slots__ = ("broken", "fd", "name", "out", "parser", "partial", "screen")

    def __init__(
        self, name: str, fd: int, out: int, parser: _StreamParser, *, screen: bool = False
    ) -> None:
        self.name = name
        self.fd = fd
        self.out = out
        self.parser = parser
        self.partial = bytearray()
        self.broken = False
        self.screen = screen

    def read(self) -> bool:
        """Read what the output holds, pass it through, parse its lines; False at its end."""
        try:
            chunk = os.read(self.fd, CHUNK)
        except OSError as error:
            if not (self.screen and error.errno == errno.EIO):
                raise
            chunk = b""  # a pseudo-terminal that nothing holds open any more: its end
        if not chunk:
            return False
        self._write(chunk)
        if self.screen:
            self._take_screen(chunk)
            return True
        last = chunk.rfind(b"\n")
        if last < 0:
            if len(self.partial) < MAX_LINE:
                self.partial += chunk[: MAX_LINE - len(self.partial)]
            return True
        first = chunk.find(b"\n")
        if self.partial:
            self.partial += chunk[: min(first, MAX_LINE)]
            lines = [bytes(self.partial[:MAX_LINE])]
            self.partial.clear()
        else:
            lines = [chunk[:first]]
        if first != last:
            lines += chunk[first + 1 : last].split(b"\n")
        self.partial += chunk[last + 1 : last + 1 + MAX_LINE]
        self.parser.feed(lines)
        return True

    def end(self) -> None:
        """The output ended (or is no longer read): its unfinished last line is a line."""
        if self.partial:
            line = bytes(self.partial)
            self.parser.feed((_screen(line) if self.screen else line,))
            self.partial.clear()

    def _take_screen(self, chunk: bytes) -> None:
        lines = chunk.split(b"\n")
        self.partial += lines[0]
        if len(lines) > 1:
            lines[0] = bytes(self.partial)
            self.partial[:] = lines.pop()
            self.parser.feed(_screen(line) for line in lines)
        if len(self.partial) > MAX_LINE:
            self.partial[:] = _compact(bytes(self.partial))

    def _write(self, data: bytes) -> None:
        """Write all of ``data`` to ``out``; on failure, stop passing this stream through."""
        if self.broken:
            return
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.out, view) :]
            except BlockingIOError:  # a non-blocking descriptor: wait until it takes more
                select.select([], [self.out], [])
            except OSError as error:
                self.broken = True
                log.warning(
                    "cannot pass the command's %s through (%s): it is still read and parsed",
                    self.name,
                    error.strerror or error,
                )
                return


# -- the terminal -------------------------------------------------------------


class _Terminal:
    """A pseudo-terminal for the command's output, when pushrestic's stdout is a terminal.

    ``slave`` is the command's stdout, and its stderr too unless ``alone`` (pushrestic's
    stderr is not that same terminal: it stays a pipe). ``master`` is read by the pump.
    Output post-processing is off on it, so what the command writes arrives unchanged.
    """

    def __init__(self, outer: int, master: int, slave: int, *, alone: bool) -> None:
        self.outer = outer
        self.master = master
        self.slave = slave
        self.alone = alone

    @classmethod
    def open(cls, stdout: int, stderr: int) -> _Terminal | None:
        """A pseudo-terminal sized as ``stdout``, if that is a terminal (None if it is not,
        or if no pseudo-terminal can be had)."""
        if not os.isatty(stdout):
            return None
        import termios

        try:
            master, slave = os.openpty()
        except OSError as error:
            log.debug("no pseudo-terminal (%s): the command's output goes through pipes", error)
            return None
        try:
            attributes = termios.tcgetattr(slave)
            attributes[1] &= ~termios.OPOST  # oflag: no LF -> CR LF (the real terminal does it)
            termios.tcsetattr(slave, termios.TCSANOW, attributes)
        except termios.error as error:
            log.debug("pseudo-terminal: output processing left on (%s)", error)
        terminal = cls(stdout, master, slave, alone=not _same_terminal(stdout, stderr))
        terminal.copy_size()
        return terminal

    def describe(self) -> str:
        try:
            tty = os.ttyname(self.slave)
        except OSError:
            tty = "a pseudo-terminal"
        return f"{tty}{' (stdout only)' if self.alone else ''}"

    def copy_size(self) -> None:
        """Give the pseudo-terminal the window size of pushrestic's terminal."""
        import termios

        try:
            termios.tcsetwinsize(self.master, termios.tcgetwinsize(self.outer))
        except (termios.error, OSError) as error:
            log.debug("window size not copied: %s", error)

    def started(self) -> None:
        """The command holds the slave side now: pushrestic lets go of it, so that the
        master reads its end (EIO) once every process of the command closed it."""
        if self.slave >= 0:
            os.close(self.slave)
            self.slave = -1

    def close(self) -> None:
        self.started()
        if self.master >= 0:
            os.close(self.master)
            self.master = -1


def _same_terminal(stdout: int, stderr: int) -> bool:
    """Whether ``stderr`` is the terminal ``stdout`` is."""
    try:
        return os.isatty(stderr) and os.path.samestat(os.fstat(stdout), os.fstat(stderr))
    except OSError:
        return False


_CONTROL_PATTERN = (
    rb"\r|\x08"  # carriage return, backspace
    rb"|\x1b\[([0-9;?]*)[ -/]*([@-~])"  # CSI: colours, erasing, cursor moves
    rb"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC: a window title
    rb"|\x1b[ -/]*[0-Z\\^-~]"  # any other escape sequence (not a CSI's or OSC's start)
)
_ESCAPE_MAX = 256  # an unfinished escape sequence longer than this is text


@functools.cache
def _control() -> re.Pattern[bytes]:
    return re.compile(_CONTROL_PATTERN)


def _screen(line: bytes) -> bytes:
    """What a terminal shows of ``line``: see :func:`_render`."""
    if b"\r" not in line and b"\x1b" not in line and b"\x08" not in line:
        return line[:MAX_LINE]
    return bytes(_render(line)[0])


def _render(data: bytes) -> tuple[bytearray, int]:
    """One terminal line as shown, and where its cursor is, after ``data`` is written to it.

    Text overwrites what is under the cursor; a carriage return moves the cursor to the start,
    backspace one back; ``ESC[K`` erases (to the end, to the cursor, or the whole
    line), ``ESC[nG``/``C``/``D`` move the cursor; every other escape sequence
    (colours, moves to other lines, titles) shows nothing. At most MAX_LINE bytes.
    """
    cells = bytearray()
    cursor = 0
    position = 0
    for match in _control().finditer(data):
        cursor = _put(cells, cursor, data[position : match.start()])
        position = match.end()
        token = match.group()
        if token == b"\r":
            cursor = 0
        elif token == b"\x08":
            cursor = max(0, cursor - 1)
        elif match.group(2) is not None:
            parameter, final = match.group(1), match.group(2)
            count = int(parameter) if parameter.isdigit() else 0
            if final == b"K":
                if count == 0:
                    del cells[cursor:]
                elif count == 1:
                    cells[: min(cursor + 1, len(cells))] = b" " * min(cursor + 1, len(cells))
                elif count == 2:
                    cells.clear()
            elif final == b"G":
                cursor = min(max(count, 1) - 1, MAX_LINE)
            elif final == b"C":
                cursor = min(cursor + max(count, 1), MAX_LINE)
            elif final == b"D":
                cursor = max(0, cursor - max(count, 1))
    cursor = _put(cells, cursor, data[position:])
    return cells, cursor


def _put(cells: bytearray, cursor: int, text: bytes) -> int:
    """Write ``text`` at ``cursor`` (within MAX_LINE); the cursor after it."""
    if not text or cursor >= MAX_LINE:
        return cursor
    text = text[: MAX_LINE - cursor]
    if cursor > len(cells):
        cells += b" " * (cursor - len(cells))
    cells[cursor : cursor + len(text)] = text
    return cursor + len(text)


def _compact(partial: bytes) -> bytes:
    """An unfinished terminal line, shorter and shown the same: its rendering, with
    the cursor where it was, then any escape sequence not finished yet."""
    tail = b""
    escape = partial.rfind(b"\x1b")
    unfinished = escape >= 0 and len(partial) - escape <= _ESCAPE_MAX
    if unfinished and _control().match(partial, escape) is None:
        partial, tail = partial[:escape], partial[escape:]
    cells, cursor = _render(partial)
    return bytes(cells) + b"\x1b[%dG" % (cursor + 1) + tail


# -- parsing ------------------------------------------------------------------


class _StreamParser:
    """The output's lines, numbered in arrival order, into one incremental parser.

    The parsers are imported here, once the command has started, so that its start
    does not wait for them (its first output does, a few tens of milliseconds, once).
    Unless the format is ``autorestic``, the first lines are held (a
    :class:`~pushrestic.parsers.Head`, HEAD_BYTES bytes at most) until
    :func:`~pushrestic.parsers.decide` can pick the parser, as for ``push``: the
    output of ``restic stats`` and ``restic snapshots --json``, which its parser
    reads whole, is kept (REPOSITORY_BYTES at most) and parsed when the command has
    ended. Of the skippable lines (progress, per-item) that arrive together, only
    the first is decoded and fed: the parsers treat them all alike. A parse error
    stops the parsing, not the pass-through.
    """

    def __init__(self, fmt: str, source: str) -> None:
        from pushrestic.parsers import Head
        from pushrestic.parsers.restic import SKIPPABLE_PREFIXES

        self._skippable = SKIPPABLE_PREFIXES
        self._fmt = fmt
        self._source = source
        self._number = 0
        self._head: Head | None = None
        self._parser: ResticParser | AutoresticParser | None = None
        self._repository: RepositoryParser | None = None
        self._kept: list[tuple[int, str]] = []  # the repository parser's lines
        self._kept_size = 0
        self._feed_one: Callable[[int, str], None] | None = None
        self.error: InputError | None = None
        self._bug: Exception | None = None
        if fmt == "autorestic":
            self._start(fmt)
        else:
            self._head = Head(HEAD_BYTES)

    def feed(self, lines: Iterable[bytes]) -> None:
        skippable_fed = False
        for raw in lines:
            self._number += 1
            if raw.startswith(self._skippable):
                if skippable_fed:
                    continue
                skippable_fed = True
            if self._head is not None:
                if self._head.hold(self._number, raw):
                    self._decide()
            elif self._feed_one is not None:
                self._parse(self._number, raw.decode("utf-8", "replace"))

    def finish(self) -> tuple[tuple[GroupOutput, ...], InputError | None]:
        """The groups the output shows, or why it could not be parsed.

        Raises what a parser raised that was not an InputError (a bug), now that
        the command has run to its end.
        """
        if self._head is not None:
            if not self._head.lines:
                return (), None
            self._decide()
        if self._bug is not None:
            raise self._bug
        if self.error is not None:
            return (), self.error
        if self._number == 0:  # restic --quiet: nothing to parse, the exit code says it all
            return (), None
        try:
            return self._groups(), None
        except InputError as error:
            return (), error

    def _groups(self) -> tuple[GroupOutput, ...]:
        from pushrestic.model import GroupOutput
        from pushrestic.parsers import groups_of

        if self._repository is not None:
            return (GroupOutput(None, None, self._repository(self._kept, source=self._source)),)
        assert self._parser is not None
        return tuple(groups_of(self._parser, self._source))

    def _start(self, fmt: str) -> None:
        from pushrestic.parsers import new_parser

        self._parser = new_parser(fmt, self._source)
        self._feed_one = self._parser.feed

    def _decide(self) -> None:
        from pushrestic.parsers import decide

        assert self._head is not None
        head, self._head = self._head.lines, None
        how = decide(head, self._fmt)
        if isinstance(how, str):
            log.debug("%s: output detected as %s", self._source, how)
            self._start(how)
        else:
            log.debug("%s: output of restic stats or snapshots, parsed at its end", self._source)
            self._repository = how
            self._feed_one = self._keep
        for number, line in head:
            self._parse(number, line)

    def _keep(self, number: int, line: str) -> None:
        """Keep a line of a repository command's output, to parse it whole at the end."""
        self._kept_size += len(line)
        if self._kept_size > REPOSITORY_BYTES:
            self._kept.clear()
            raise InputError(
                f"more than {REPOSITORY_BYTES >> 20} MiB of restic stats or snapshots output",
                source=self._source,
                line=number,
            )
        self._kept.append((number, line))

    def _parse(self, number: int, line: str) -> None:
        if self._feed_one is None:  # parsing stopped
            return
        try:
            self._feed_one(number, line)
        except InputError as error:
            self._stop(error)
        except Exception as error:  # a bug: raised once the command has ended
            self._bug = error
            self._stop(None)

    def _stop(self, error: InputError | None) -> None:
        if error is not None:
            log.debug("%s: parsing stopped: %s", self._source, error)
        self.error = error
        self._feed_one = None


# -- signals ------------------------------------------------------------------


class _Signals:
    """Catch FORWARDED_SIGNALS while the command runs; forward each one once.

    ``own_group``: the command leads a process group of its own, and every signal
    goes to that group. Otherwise the command shares pushrestic's group, which
    its terminal signals as a whole: a TERMINAL_SIGNALS signal is recorded, not
    forwarded, unless it arrived before the command was started (then the command
    did not get it); any other (SIGTERM) is sent to the command.

    ``on_resize``: the command's output is a pseudo-terminal; on SIGWINCH (the
    terminal's window changed size) it is called to copy the new size, then the
    command gets SIGWINCH too, as the terminal's foreground group would. In the
    foreground the command may already have had it from the terminal, before the
    size was copied: twice is harmless, as the size is all it reads.
    """

    def __init__(self, *, own_group: bool, on_resize: Callable[[], None] | None = None) -> None:
        self.own_group = own_group
        self.received: int | None = None
        self._pid: int | None = None
        self._exited = False
        self._pending: list[int] = []
        self._previous: dict[int, Any] = {}
        self._on_resize = on_resize

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            log.debug("not in the main thread: signals are not forwarded")
            return
        for signum in FORWARDED_SIGNALS:
            previous = signal.getsignal(signum)
            if previous == signal.SIG_IGN or previous is None:
                continue  # ignored (nohup): the command inherits that; None: not Python's
            self._previous[signum] = signal.signal(signum, self._handle)
        if self._on_resize is not None:
            previous = signal.getsignal(signal.SIGWINCH)
            if previous != signal.SIG_IGN and previous is not None:
                self._previous[signal.SIGWINCH] = signal.signal(signal.SIGWINCH, self._resize)

    def restore(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def started(self, pid: int) -> None:
        self._pid = pid
        while self._pending:
            self._send(self._pending.pop(0), early=True)

    def exited(self) -> None:
        self._exited = True

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._exited:
            return
        if self.received is None:
            self.received = signum
        if self._pid is None:
            self._pending.append(signum)
        else:
            self._send(signum, early=False)

    def _resize(self, signum: int, frame: FrameType | None) -> None:
        assert self._on_resize is not None
        self._on_resize()
        if self._pid is None or self._exited:
            return
        try:
            if self.own_group:
                os.killpg(self._pid, signal.SIGWINCH)
            else:
                os.kill(self._pid, signal.SIGWINCH)
        except ProcessLookupError:
            pass

    def _send(self, signum: int, *, early: bool) -> None:
        assert self._pid is not None
        try:
            if self.own_group:
                os.killpg(self._pid, signum)
            elif early or signum not in TERMINAL_SIGNALS:
                os.kill(self._pid, signum)
        except ProcessLookupError:
            pass
