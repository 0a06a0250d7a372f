"""Pipes as LOG, with the real CLI: `<(...)`, standard input and named pipes (FIFOs).

A pipe from process substitution or on standard input is read as it is; a named
pipe is read once a program writes to it, and one that nothing opens for writing
is refused after inputs.FIFO_WAIT_SECONDS instead of hanging for ever.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from pushrestic.sources.stream import FIFO_WAIT_SECONDS
from tests import cli
from tests.conftest import SAMPLES, require_binary
from tests.integration.servers import PUSHRESTIC_TIMEOUT, SUCCESS_LOG, environment

pytestmark = pytest.mark.integration

LOG = SAMPLES / SUCCESS_LOG
PUSHRESTIC = shlex.join(cli.argv())
EXIT_UNREADABLE = 66


def shell(script: str, tmp_path: Path, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    """``bash -c script`` with the test's own spool; fails the test if it hangs."""
    try:
        return subprocess.run(
            [require_binary("bash"), "-c", script],
            input=stdin.decode(),
            env=environment(tmp_path / "spool"),
            capture_output=True,
            text=True,
            timeout=PUSHRESTIC_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise AssertionError(f"{script!r} hung: {error.stderr!r}") from None


def reported_success(done: subprocess.CompletedProcess[str]) -> bool:
    assert done.returncode == 0, done
    return 'restic_backup_success{backend="default",location="default"} 1.0' in done.stdout


def test_a_log_from_process_substitution_is_read(tmp_path: Path) -> None:
    done = shell(f"{PUSHRESTIC} push --dry-run <(cat {shlex.quote(str(LOG))})", tmp_path)
    assert reported_success(done)


@pytest.mark.parametrize(
    ("writer", "args"),
    [(f"cat {shlex.quote(str(LOG))}", ""), ("true", "--exit-code 0")],
    ids=["log", "quiet-restic-printed-nothing"],
)
def test_a_pipe_whose_writer_is_long_gone_is_read_without_waiting(
    tmp_path: Path, writer: str, args: str
) -> None:
    # fd 3 is the pipe of <(writer); the writer has ended before pushrestic starts
    done = shell(
        f"exec 3< <({writer}); sleep 1; {PUSHRESTIC} push --dry-run {args} /dev/fd/3", tmp_path
    )
    assert reported_success(done)
    assert "named pipe" not in done.stderr


def test_a_log_on_standard_input_is_read(tmp_path: Path) -> None:
    done = shell(f"{PUSHRESTIC} push --dry-run -", tmp_path, stdin=LOG.read_bytes())
    assert reported_success(done)


def test_a_named_pipe_with_a_writer_started_first_is_read(tmp_path: Path) -> None:
    fifo = tmp_path / "restic.fifo"
    os.mkfifo(fifo)
    quoted = shlex.quote(str(fifo))
    done = shell(
        f"cat {shlex.quote(str(LOG))} > {quoted} & {PUSHRESTIC} push --dry-run {quoted}; wait",
        tmp_path,
    )
    assert reported_success(done)


def test_a_named_pipe_whose_writer_starts_later_is_read(tmp_path: Path) -> None:
    fifo = tmp_path / "restic.fifo"
    os.mkfifo(fifo)
    quoted = shlex.quote(str(fifo))
    done = shell(
        f"(sleep 1; cat {shlex.quote(str(LOG))} > {quoted}) & "
        f"{PUSHRESTIC} push --dry-run {quoted}; wait",
        tmp_path,
    )
    assert reported_success(done)


def test_a_named_pipe_that_nothing_writes_to_is_refused_instead_of_hanging(
    tmp_path: Path,
) -> None:
    fifo = tmp_path / "restic.fifo"
    os.mkfifo(fifo)
    started = time.monotonic()
    done = shell(f"{PUSHRESTIC} push --dry-run --location docs {shlex.quote(str(fifo))}", tmp_path)
    waited = time.monotonic() - started
    assert done.returncode == EXIT_UNREADABLE, done
    assert "named pipe (FIFO)" in done.stderr
    assert str(fifo) in done.stderr
    assert waited >= FIFO_WAIT_SECONDS
    # the run is still reported, as failed
    assert 'restic_backup_success{backend="default",location="docs"} 0.0' in done.stdout
