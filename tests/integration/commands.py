"""Helpers for tests that wrap real commands (sources.command): :data:`WRAPPER` runs
run_command in a child python, for what needs signals sent to pushrestic itself;
:class:`Terminal` is a pseudo-terminal pair; every wait is bounded by :data:`WAIT`."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import termios
import threading
import time
import tty
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pushrestic.sources.command import Wrapped, run_command

REPO = Path(__file__).resolve().parents[2]
AUTORESTIC_LOG = REPO / "pushrestic" / "examples" / "autorestic-backup.log"
WAIT = 30.0  # the most any wait in these tests may take

# run_command in a child python, for what needs signals sent to pushrestic itself.
# argv: RESULT STDOUT STDERR COMMAND... (STDOUT/STDERR: a file, or - for the child's
# own; the same twice is one descriptor, as 2>&1 makes it). With TAKE_TTY set, the child
# (a session leader) makes its stdin, a terminal, its controlling terminal.
WRAPPER = r"""
import dataclasses, json, os, sys
from pushrestic.sources.command import run_command

def status(field):
    with open("/proc/self/status") as stream:
        for line in stream:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise LookupError(field)

result, out_path, err_path, argv = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
if os.environ.get("TAKE_TTY"):
    os.close(os.open(os.ttyname(0), os.O_RDWR))
flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
out = 1 if out_path == "-" else os.open(out_path, flags, 0o644)
err = out if err_path == out_path else 2 if err_path == "-" else os.open(err_path, flags, 0o644)
rss_before = status("VmRSS")
wrapped = run_command(argv, stdout=out, stderr=err)
facts = {
    "exit_code": wrapped.exit_code,
    "interrupted_by": wrapped.interrupted_by,
    "duration_seconds": wrapped.duration_seconds,
    "start_error": wrapped.start_error,
    "parse_error": None if wrapped.parse_error is None else str(wrapped.parse_error),
    "groups": [dataclasses.asdict(group) for group in wrapped.groups],
    "pid": os.getpid(),
    "rss_before": rss_before,
    "peak_rss": status("VmHWM"),
}
with open(result, "w") as stream:
    json.dump(facts, stream)
"""


# -- helpers ------------------------------------------------------------------


def wrap(
    tmp_path: Path,
    argv: Sequence[str],
    *,
    fmt: str = "auto",
    env: dict[str, str] | None = None,
) -> tuple[Wrapped, bytes, bytes]:
    """run_command in this process, its stdout and stderr written to files; returns
    the result and what was written to each."""
    out_path, err_path = tmp_path / "passed-stdout", tmp_path / "passed-stderr"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        wrapped = run_command(argv, fmt=fmt, stdout=out.fileno(), stderr=err.fileno(), env=env)
    return wrapped, out_path.read_bytes(), err_path.read_bytes()


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def wrapper_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment, with this checkout's pushrestic first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(REPO), env.get("PYTHONPATH"))))
    env.update(extra or {})
    return env


def start_wrapper(
    result: Path,
    argv: Sequence[str],
    *,
    stdout: str = "-",
    stderr: str = "-",
    stdin: int = subprocess.DEVNULL,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    take_tty: bool = False,
    terminal: int | None = None,
) -> subprocess.Popen[bytes]:
    """Start :data:`WRAPPER` in a session of its own (no controlling terminal, unless
    ``take_tty``), its own stdout on a pipe (where the command's goes with ``-``).
    With ``terminal`` (a pseudo-terminal's slave side), its stdin, stdout and stderr
    are that terminal instead (read what it shows with :func:`read_terminal`)."""
    environment = wrapper_environment(env)
    if take_tty:
        environment["TAKE_TTY"] = "1"
    return subprocess.Popen(
        [sys.executable, "-c", WRAPPER, str(result), stdout, stderr, *argv],
        stdin=stdin if terminal is None else terminal,
        stdout=subprocess.PIPE if terminal is None else terminal,
        stderr=None if terminal is None else terminal,
        env=environment,
        cwd=cwd,
        start_new_session=True,
    )


def read_terminal(master: int, *, until: bytes | None, timeout: float = WAIT) -> bytes:
    """What a pseudo-terminal shows, until ``until`` (or until nothing holds it open)."""
    seen = bytearray()
    deadline = time.monotonic() + timeout
    while until is None or until not in seen[-len(until) - 65536 :]:
        left = deadline - time.monotonic()
        assert left > 0, f"{until!r} not shown in {timeout} s; got {bytes(seen[-500:])!r}"
        ready, _, _ = select.select([master], [], [], left)
        if not ready:
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: nothing holds the terminal open any more
            chunk = b""
        if not chunk:
            assert until is None, f"the terminal closed before {until!r}; got {seen[-500:]!r}"
            break
        seen += chunk
    return bytes(seen)


def finish_on_terminal(
    proc: subprocess.Popen[bytes], result: Path, master: int, *, timeout: float = WAIT
) -> tuple[dict[str, Any], bytes]:
    """Read what the terminal shows until the wrapper and its command let go of it,
    wait for the wrapper (bounded); returns its facts and what was shown."""
    try:
        shown = read_terminal(master, until=None, timeout=timeout)
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, f"the wrapper failed ({proc.returncode}): {shown[-500:]!r}"
    facts: dict[str, Any] = json.loads(result.read_text())
    return facts, shown


class Terminal:
    """A pseudo-terminal of a given size, its slave side in raw mode unless told: what
    is written to it reaches the master unchanged (no LF -> CR LF, no echo).
    ``let_go()`` closes the slave side (once), so that the master reads its end when
    the processes using it are gone."""

    def __init__(self, rows: int = 24, columns: int = 80, *, raw: bool = True) -> None:
        self.master, self.slave = pty.openpty()
        if raw:
            tty.setraw(self.slave)
        termios.tcsetwinsize(self.slave, (rows, columns))

    def let_go(self) -> None:
        if self.slave >= 0:
            os.close(self.slave)
            self.slave = -1

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.let_go()
        os.close(self.master)


def wrap_on_terminal(
    argv: Sequence[str], *, rows: int = 24, columns: int = 80, stderr: int | None = None
) -> tuple[Wrapped, bytes]:
    """run_command in this process with its stdout (and stderr, unless given) a terminal;
    returns the result and what the terminal showed (read as it is written)."""
    with Terminal(rows, columns) as terminal:
        shown: list[bytes] = []
        reader = threading.Thread(
            target=lambda: shown.append(read_terminal(terminal.master, until=None))
        )
        reader.start()
        try:
            out = terminal.slave
            wrapped = run_command(argv, stdout=out, stderr=out if stderr is None else stderr)
        finally:
            terminal.let_go()
            reader.join(WAIT)
        assert not reader.is_alive()
    return wrapped, shown[0]


def read_until(proc: subprocess.Popen[bytes], marker: bytes, timeout: float = WAIT) -> bytes:
    """Read the child's stdout until ``marker`` shows (bounded); returns what was read."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"{marker!r} not seen in {timeout} s; got {seen[-500:]!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 65536)
            assert chunk, f"output ended before {marker!r}; got {seen[-500:]!r}"
            seen += chunk
    return seen


def finish_wrapper(
    proc: subprocess.Popen[bytes],
    result: Path,
    *,
    timeout: float = WAIT,
    answer: bytes | None = None,
) -> tuple[dict[str, Any], bytes]:
    """Write ``answer`` to the wrapper's stdin (a pipe) and wait for it (bounded);
    returns its facts and the rest of its stdout."""
    try:
        rest, _ = proc.communicate(answer, timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, f"the wrapper failed ({proc.returncode})"
    facts: dict[str, Any] = json.loads(result.read_text())
    return facts, rest


# A command that counts the SIGINTs (or the signal named by its argument) it gets:
# ready once it handles them; after the first, a moment for a second one, then it
# prints the count and its process group and exits as the signal's default would.
SIGNAL_COUNTER = r"""
import os, signal, sys, time
signum = getattr(signal, sys.argv[1]) if len(sys.argv) > 1 else signal.SIGINT
count = 0
def handle(signum, frame):
    global count
    count += 1
signal.signal(signum, handle)
print("ready", flush=True)
deadline = time.monotonic() + 30
while count == 0 and time.monotonic() < deadline:
    time.sleep(0.01)
linger = time.monotonic() + 0.5
while time.monotonic() < linger:
    time.sleep(0.01)
print(f"count={count} pgid={os.getpgrp()}", flush=True)
sys.exit(128 + signum)
"""
