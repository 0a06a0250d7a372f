"""run_command around real restic: its exit code kept, its output passed through byte for
byte, what it did parsed from the stream.

Each test runs :data:`tests.integration.commands.WRAPPER` (run_command in a child
python, in the repository's environment and work directory) and compares what it
reports with restic's own truth: ``restic snapshots --json``, the source tree,
and, for deterministic failures, what restic prints when run bare.
"""

from __future__ import annotations

import os
import pty
import re
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_binary
from tests.integration.commands import (
    Terminal,
    finish_on_terminal,
    finish_wrapper,
    read_terminal,
    read_until,
    start_wrapper,
)
from tests.integration.conftest import (
    NOBODY,
    PASSWORD,
    RESTIC_TIMEOUT,
    ResticRepo,
    SourceTree,
    new_repo,
)

pytestmark = pytest.mark.integration


def wrapped_restic(
    repo: ResticRepo,
    tmp_path: Path,
    *args: str,
    env_extra: dict[str, str] | None = None,
    merged: bool = False,
) -> tuple[dict[str, Any], bytes, bytes]:
    """``restic ARGS`` under run_command, stdout and stderr passed to two files (one
    with ``merged``); returns what run_command reported and what it passed on."""
    result, out, err = tmp_path / "result.json", tmp_path / "passed.out", tmp_path / "passed.err"
    proc = start_wrapper(
        result,
        repo.command(args),
        stdout=str(out),
        stderr=str(out if merged else err),
        env=repo.environment(env_extra),
        cwd=repo.work,
    )
    facts, _ = finish_wrapper(proc, result, timeout=RESTIC_TIMEOUT)
    return facts, out.read_bytes(), b"" if merged else err.read_bytes()


def only_group(facts: dict[str, Any]) -> dict[str, Any]:
    assert facts["parse_error"] is None, facts["parse_error"]
    (group,) = facts["groups"]
    assert (group["location"], group["backend"]) == (None, None)
    output: dict[str, Any] = group["output"]
    return output


def assert_backup_of(backup: dict[str, Any], tree: SourceTree, snapshot: dict[str, Any]) -> None:
    """The parsed backup is the one restic saved, of the whole tree."""
    assert snapshot["id"].startswith(backup["snapshot_id"])
    assert len(backup["snapshot_id"]) >= 8
    summary = backup["summary"]
    assert summary["files_new"] == tree.file_count
    assert summary["dirs_new"] == tree.dir_count
    assert summary["processed_files"] == tree.file_count
    assert abs(summary["processed_bytes"] - tree.size) <= 0.0005 * 1024 * 1024


@pytest.mark.parametrize("flags", [(), ("--json",)], ids=["text", "json"])
def test_a_backup_is_parsed_as_it_streams_and_its_streams_passed_apart(
    restic_repo: ResticRepo, tmp_path: Path, flags: tuple[str, ...]
) -> None:
    facts, out, err = wrapped_restic(restic_repo, tmp_path, "backup", *flags, "src")
    assert facts["exit_code"] == 0, err
    assert facts["interrupted_by"] is None
    assert err == b""
    (snapshot,) = restic_repo.snapshots()
    if flags:
        assert out.rstrip(b"\n").split(b"\n")[-1].startswith(b'{"message_type":"summary"')
        assert snapshot["short_id"].encode() in out  # restic 0.14 prints the short id
    else:
        assert f"snapshot {snapshot['short_id']} saved\n".encode() in out
    output = only_group(facts)
    assert output["fatal"] is None
    assert_backup_of(output["backup"], SourceTree(restic_repo.work / "src"), snapshot)


def test_what_restic_writes_is_passed_through_byte_for_byte(
    restic_repo: ResticRepo, tmp_path: Path
) -> None:
    """bash's tee keeps a copy of exactly what restic wrote, and writes the same to
    run_command's pipe; pipefail keeps restic's exit code."""
    copy = tmp_path / "restic-wrote"
    bash = require_binary("bash")
    script = 'set -o pipefail; "$@" 2>&1 | tee "$COPY"'
    result, passed = tmp_path / "result.json", tmp_path / "passed"
    repo = restic_repo
    proc = start_wrapper(
        result,
        [bash, "-c", script, "bash", repo.restic, "backup", "-v", "src"],
        stdout=str(passed),
        stderr=str(passed),
        env=repo.environment({"COPY": str(copy)}),
        cwd=repo.work,
    )
    facts, _ = finish_wrapper(proc, result, timeout=RESTIC_TIMEOUT)
    assert facts["exit_code"] == 0
    assert passed.read_bytes() == copy.read_bytes()
    assert b"processed " in copy.read_bytes()
    (snapshot,) = repo.snapshots()
    assert_backup_of(only_group(facts)["backup"], SourceTree(repo.work / "src"), snapshot)


@pytest.fixture
def unreadable_repo(restic_template: Path, tmp_path: Path) -> Iterator[ResticRepo]:
    """A repository whose source has a file restic may not read (as the session's
    unreadable_backup fixture makes it: as root, restic runs as nobody)."""
    if os.geteuid() == 0:
        require_binary("setpriv")
        outer = Path(tempfile.mkdtemp(prefix="pushrestic-wrapper-"))
        outer.chmod(0o755)
        run_as: tuple[int, int] | None = (NOBODY, NOBODY)
    else:
        outer = tmp_path
        run_as = None
    try:
        repo = new_repo(restic_template, outer / "work", run_as)
        SourceTree.generate(repo.work / "src")
        secret = repo.work / "src" / "config" / "keys" / "id"
        secret.write_bytes(b"-----BEGIN PRIVATE KEY-----\n")
        if run_as is not None:
            repo.chown(*run_as)
        secret.chmod(0o000)
        yield repo
    finally:
        if run_as is not None:
            shutil.rmtree(outer)


def test_a_partial_backup_keeps_exit_code_3(unreadable_repo: ResticRepo, tmp_path: Path) -> None:
    repo = unreadable_repo
    facts, out, err = wrapped_restic(repo, tmp_path, "backup", "src")
    assert facts["exit_code"] == 3, err
    assert b"permission denied" in err
    assert b"Warning: at least one source file could not be read" in err
    (snapshot,) = repo.snapshots()
    assert f"snapshot {snapshot['short_id']} saved".encode() in out
    output = only_group(facts)
    backup = output["backup"]
    assert backup["snapshot_id"] == snapshot["short_id"]
    assert backup["unreadable_warning"]
    assert backup["errors"] == 1
    tree = SourceTree(repo.work / "src")
    assert backup["summary"]["files_new"] == tree.file_count - 1


@pytest.mark.parametrize(
    ("case", "global_flags", "env_extra"),
    [
        pytest.param("wrong password", (), {"RESTIC_PASSWORD": "not-it"}, id="wrong-password"),
        pytest.param(
            "missing repository", ("-r", "{work}/no-such-repo"), {}, id="missing-repository"
        ),
    ],
)
def test_a_failed_backup_keeps_restics_code_and_exact_output(
    restic_repo: ResticRepo,
    tmp_path: Path,
    case: str,
    global_flags: tuple[str, ...],
    env_extra: dict[str, str],
) -> None:
    args = (*(flag.format(work=restic_repo.work) for flag in global_flags), "backup", "src")
    bare = restic_repo.run_restic(*args, env_extra=env_extra)
    assert bare.exit_code != 0, case
    facts, out, err = wrapped_restic(restic_repo, tmp_path, *args, env_extra=env_extra)
    assert facts["exit_code"] == bare.exit_code
    assert out == bare.stdout.encode()
    assert err == bare.stderr.encode()
    assert err.startswith(b"Fatal: ")
    output = only_group(facts)
    assert output["fatal"] is not None
    assert output["fatal"] in bare.stderr
    assert output["backup"] is None or output["backup"]["snapshot_id"] is None
    assert restic_repo.snapshots() == []


def test_sigint_to_pushrestic_interrupts_a_running_backup(
    restic_repo: ResticRepo, tmp_path: Path
) -> None:
    """``--limit-upload 1024`` (KiB/s) makes 8 MiB of random data take at least eight
    seconds: the interrupt arrives while restic is storing it."""
    repo = restic_repo
    (repo.work / "src" / "media" / "random.bin").write_bytes(os.urandom(8 * 1024 * 1024))
    result, err = tmp_path / "result.json", tmp_path / "passed.err"
    proc = start_wrapper(
        result,
        repo.command(("--limit-upload", "1024", "backup", "src")),
        stdout="-",
        stderr=str(err),
        env=repo.environment(),
        cwd=repo.work,
    )
    first = read_until(proc, b"no parent snapshot found, will read all files\n")
    proc.send_signal(signal.SIGINT)
    facts, rest = finish_wrapper(proc, result, timeout=RESTIC_TIMEOUT)
    assert facts["interrupted_by"] == signal.SIGINT
    assert facts["exit_code"] == 130
    assert facts["duration_seconds"] < 8
    assert b"signal interrupt received, cleaning up" in first + rest + err.read_bytes()
    output = only_group(facts)
    assert output["interrupted"]
    assert output["backup"] is None or output["backup"]["snapshot_id"] is None
    assert repo.snapshots() == []


def test_restic_asks_for_its_password_on_the_terminal_pushrestic_runs_in(
    restic_repo: ResticRepo, tmp_path: Path
) -> None:
    """In the foreground of a terminal the command shares pushrestic's process group,
    so restic may switch the terminal's echo off and read it (in a background group
    it would be stopped); its prompt, printed without a newline, shows at once."""
    repo = restic_repo
    env = repo.environment()
    del env["RESTIC_PASSWORD"]
    result = tmp_path / "result.json"
    master, slave = pty.openpty()
    try:
        proc = start_wrapper(
            result,
            repo.command(("backup", "src")),
            stdin=slave,
            env=env,
            cwd=repo.work,
            take_tty=True,
        )
        os.close(slave)
        slave = -1
        shown = read_until(proc, b"enter password for repository: ")
        os.write(master, PASSWORD.encode() + b"\n")
        facts, rest = finish_wrapper(proc, result, timeout=RESTIC_TIMEOUT)
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    assert facts["exit_code"] == 0, shown + rest
    (snapshot,) = repo.snapshots()
    assert f"snapshot {snapshot['short_id']} saved".encode() in rest
    assert_backup_of(only_group(facts)["backup"], SourceTree(repo.work / "src"), snapshot)


# restic 0.14's status line (shown on a terminal only): ``[0:00] 3 files 1.2 KiB, ...``
# or ``[0:00] 100.00%  3 / 3 files``.
RESTIC_PROGRESS = re.compile(rb"\[\d+:\d\d\] [^\r\n\x1b]*files")
ERASE_LINE = b"\x1b[2K"


@pytest.mark.parametrize("password_on_the_terminal", [False, True], ids=["env", "prompt"])
def test_on_a_terminal_restic_shows_its_progress_and_the_run_is_still_parsed(
    restic_repo: ResticRepo, tmp_path: Path, password_on_the_terminal: bool
) -> None:
    """pushrestic's stdout a terminal: restic writes to a pseudo-terminal, so it shows
    its progress (and erases it), which it never prints to a pipe; stdin stays the real
    terminal, where restic reads its password with the echo off."""
    repo = restic_repo
    env = repo.environment({"TERM": "xterm"})
    if password_on_the_terminal:
        del env["RESTIC_PASSWORD"]
    result = tmp_path / "result.json"
    with Terminal(24, 100, raw=False) as terminal:  # as a terminal is: echo on
        proc = start_wrapper(
            result,
            repo.command(("backup", "src")),
            env=env,
            cwd=repo.work,
            take_tty=True,
            terminal=terminal.slave,
        )
        terminal.let_go()
        shown = b""
        if password_on_the_terminal:
            shown = read_terminal(terminal.master, until=b"enter password for repository: ")
            os.write(terminal.master, PASSWORD.encode() + b"\n")
        facts, rest = finish_on_terminal(proc, result, terminal.master, timeout=RESTIC_TIMEOUT)
    shown += rest
    assert facts["exit_code"] == 0, shown
    assert PASSWORD.encode() not in shown, "restic turned the echo off"
    assert RESTIC_PROGRESS.search(shown), shown
    assert ERASE_LINE in shown
    (snapshot,) = repo.snapshots()
    assert f"snapshot {snapshot['short_id']} saved".encode() in shown
    assert_backup_of(only_group(facts)["backup"], SourceTree(repo.work / "src"), snapshot)


def test_through_a_pipe_restic_shows_no_progress(restic_repo: ResticRepo, tmp_path: Path) -> None:
    """Outside a terminal nothing changes: restic sees a pipe and prints no status."""
    facts, out, err = wrapped_restic(
        restic_repo, tmp_path, "backup", "src", env_extra={"TERM": "xterm"}
    )
    assert facts["exit_code"] == 0, err
    assert not RESTIC_PROGRESS.search(out + err)
    assert ERASE_LINE not in out + err
