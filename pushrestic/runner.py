"""Wrap a command: pass its output through untouched, parse it as it streams, keep its code.

:func:`run_command` starts the command with its stdout and stderr on pipes
(stdin is inherited, so prompts work), writes every chunk it reads to the given
file descriptors at once and unchanged (no line buffering: progress output and
a password prompt appear as soon as the command prints them), and feeds the
complete lines of both streams, in arrival order, to one incremental parser.
Memory stays constant: each stream keeps only its unfinished line, and at most
``MAX_LINE`` bytes of it.

One thread does it all with a selector over the two pipes and a pidfd of the
child (where the kernel has none, the child is polled). The child is only
*observed* to have exited (``waitid(WNOWAIT)``) until the signal handlers are
restored, and reaped after: a forwarded signal can never reach a process that
reused its pid. After the child exits, the pipes are drained to their end, but
for ``DRAIN_SECONDS`` at most: a background grandchild may hold them open.

Signals (SIGINT, SIGTERM, SIGHUP), delivered exactly once to the command:

* pushrestic in the foreground of a terminal: the command stays in
  pushrestic's process group. The terminal sends its signals (Ctrl-C's SIGINT,
  a hangup's SIGHUP) to the whole group, so the command gets them directly;
  forwarding them too would deliver them twice: pushrestic only records them.
  A terminal never sends SIGTERM: one that pushrestic receives (``kill PID``)
  is passed on to the command itself. (A shell's ``kill %job`` signals the
  whole group: the command then gets that SIGTERM twice, which is better than
  never.) Staying in the group also lets the command read the terminal
  (restic's password prompt, ssh's) and be stopped and continued with it
  (Ctrl-Z, ``fg``); in a group of its own it would be stopped by SIGTTIN.
* Otherwise (cron, systemd, CI, a background job): the command runs in a process
  group of its own, that nothing but pushrestic signals, and each signal
  pushrestic receives is forwarded once to that group, so it reaches what the
  command started too (``sh -c``, autorestic's restic), as Ctrl-C would.
  Under systemd, use ``KillMode=mixed``: the default (``control-group``)
  sends SIGTERM to every process of the unit itself.

Either way pushrestic then waits for the command to end (a command that
ignores the signal runs on; each further signal is passed on in the same way).
A signal whose disposition was "ignore" (``nohup``) is left ignored, and the
command inherits that. The previous handlers are restored before returning.
Handlers can only be set in the main thread; elsewhere signals are not handled.
"""

from __future__ import annotations

import logging
import os
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
# The first lines are kept to detect the format: this many that are not skippable,
# or this many bytes.
HEAD_LINES = 64
HEAD_BYTES = 1 << 20
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
    signals = _Signals(own_group=not foreground)
    log.debug(
        "running %s (%s)",
        args,
        "foreground of a terminal: same process group" if foreground else "own process group",
    )
    started_at = time.time()
    start = time.monotonic()
    signals.install()
    try:
        try:
            proc = subprocess.Popen(
                args,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
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
        signals.started(proc.pid)
        parser = _StreamParser(fmt, f"<{name}>")
        assert proc.stdout is not None
        assert proc.stderr is not None
        streams = (
            _Stream("stdout", proc.stdout.fileno(), stdout, parser),
            _Stream("stderr", proc.stderr.fileno(), stderr, parser),
        )
        with proc.stdout, proc.stderr:
            exited = _pump(proc.pid, streams, signals.exited)
        if exited is None:  # both pipes closed before the command exited
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
            exited = time.monotonic()
            signals.exited()
        ended_at = time.time() - (time.monotonic() - exited)
    finally:
        signals.restore()
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
                for key, _ in selector.select(timeout):
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
    """One of the command's pipes: passed through to ``out``, its lines fed to the parser.

    ``partial`` is the start of the line not finished yet, at most MAX_LINE bytes: a
    longer line is cut (as the input layer cuts it).
    """

    __slots__ = ("broken", "fd", "name", "out", "parser", "partial")

    def __init__(self, name: str, fd: int, out: int, parser: _StreamParser) -> None:
        self.name = name
        self.fd = fd
        self.out = out
        self.parser = parser
        self.partial = bytearray()
        self.broken = False

    def read(self) -> bool:
        """Read what the pipe holds, pass it through, parse its lines; False at its end."""
        chunk = os.read(self.fd, CHUNK)
        if not chunk:
            return False
        self._write(chunk)
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
        """The pipe ended (or is no longer read): its unfinished last line is a line."""
        if self.partial:
            self.parser.feed((bytes(self.partial),))
            self.partial.clear()

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


# -- parsing ------------------------------------------------------------------


class _StreamParser:
    """The output's lines, numbered in arrival order, into one incremental parser.

    The parsers are imported here, once the command has started, so that its start
    does not wait for them (its first output does, a few tens of milliseconds, once).
    With format ``auto`` the first lines are held (HEAD_LINES lines, HEAD_BYTES
    bytes at most) until :func:`detect_format` can decide. Of the skippable lines
    (progress, per-item) that arrive together, only the first is decoded and fed:
    the parsers treat them all alike. A parse error stops the parsing, not the
    pass-through.
    """

    def __init__(self, fmt: str, source: str) -> None:
        from pushrestic.parsers.restic import SKIPPABLE_PREFIXES

        self._skippable = SKIPPABLE_PREFIXES
        self._source = source
        self._number = 0
        self._head: list[tuple[int, str]] | None = None
        self._head_lines = 0
        self._head_bytes = 0
        self._head_skippable = False
        self._parser: ResticParser | AutoresticParser | None = None
        self._feed_one: Callable[[int, str], None] | None = None
        self.error: InputError | None = None
        self._bug: Exception | None = None
        if fmt == "auto":
            self._head = []
        else:
            self._start(fmt)

    def feed(self, lines: Iterable[bytes]) -> None:
        skippable_fed = False
        for raw in lines:
            self._number += 1
            if raw.startswith(self._skippable):
                if skippable_fed:
                    continue
                skippable_fed = True
            if self._head is not None:
                self._hold(raw)
            elif self._feed_one is not None:
                self._parse(self._number, raw.decode("utf-8", "replace"))

    def finish(self) -> tuple[tuple[GroupOutput, ...], InputError | None]:
        """The groups the output shows, or why it could not be parsed.

        Raises what a parser raised that was not an InputError (a bug), now that
        the command has run to its end.
        """
        if self._head is not None:
            if not self._head:
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
        from pushrestic.parsers import groups_of

        assert self._parser is not None
        return tuple(groups_of(self._parser, self._source))

    def _start(self, fmt: str) -> None:
        from pushrestic.parsers import new_parser

        self._parser = new_parser(fmt, self._source)
        self._feed_one = self._parser.feed

    def _hold(self, raw: bytes) -> None:
        assert self._head is not None
        if raw.startswith(self._skippable):
            if self._head_skippable:
                return
            self._head_skippable = True
        else:
            self._head_lines += 1
        self._head.append((self._number, raw.decode("utf-8", "replace")))
        self._head_bytes += len(raw)
        if self._head_lines >= HEAD_LINES or self._head_bytes >= HEAD_BYTES:
            self._decide()

    def _decide(self) -> None:
        from pushrestic.parsers import detect_format

        head, self._head = self._head or [], None
        fmt = detect_format(head)
        log.debug("%s: output detected as %s", self._source, fmt)
        self._start(fmt)
        for number, line in head:
            self._parse(number, line)

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
    """

    def __init__(self, *, own_group: bool) -> None:
        self.own_group = own_group
        self.received: int | None = None
        self._pid: int | None = None
        self._exited = False
        self._pending: list[int] = []
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            log.debug("not in the main thread: signals are not forwarded")
            return
        for signum in FORWARDED_SIGNALS:
            previous = signal.getsignal(signum)
            if previous == signal.SIG_IGN or previous is None:
                continue  # ignored (nohup): the command inherits that; None: not Python's
            self._previous[signum] = signal.signal(signum, self._handle)

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

    def _send(self, signum: int, *, early: bool) -> None:
        assert self._pid is not None
        try:
            if self.own_group:
                os.killpg(self._pid, signum)
            elif early or signum not in TERMINAL_SIGNALS:
                os.kill(self._pid, signum)
        except ProcessLookupError:
            pass
