"""``pushrestic run`` in a terminal looks like restic: real restic 0.14 shows its progress
(which it prints only to a terminal), and the run still reaches a real Pushgateway
with the right figures; the interactive push is said on one line."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import cli
from tests.integration.commands import REPO, Terminal, read_terminal
from tests.integration.conftest import RESTIC_TIMEOUT, ResticRepo, SourceTree
from tests.integration.servers import Pushgateway, started_pushgateway
from tests.integration.test_wrapper import ERASE_LINE, RESTIC_PROGRESS

pytestmark = pytest.mark.integration

# Makes its stdin, a terminal, the controlling terminal of its session (it leads one),
# then runs argv: pushrestic then runs in the foreground of that terminal, as in a shell.
TAKE_TTY = (
    "import os, sys; os.close(os.open(os.ttyname(0), os.O_RDWR)); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Pushgateway]:
    with started_pushgateway(tmp_path / "pushgateway") as started:
        yield started


def run_in_a_terminal(
    repo: ResticRepo, spool: Path, *args: str, command: tuple[str, ...]
) -> tuple[int, bytes]:
    """``pushrestic run ARGS -- restic COMMAND`` in the foreground of a terminal (stdin,
    stdout and stderr); returns its exit code and what the terminal showed."""
    env = repo.environment(
        {"TERM": "xterm", "PYTHONPATH": str(REPO), "PUSHRESTIC_SPOOL_DIR": str(spool)}
    )
    with Terminal(24, 100, raw=False) as terminal:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-c", TAKE_TTY, *cli.argv("run")),
                *(*args, "--", *repo.command(command)),
            ],
            stdin=terminal.slave,
            stdout=terminal.slave,
            stderr=terminal.slave,
            env=env,
            cwd=repo.work,
            start_new_session=True,
        )
        terminal.let_go()
        try:
            shown = read_terminal(terminal.master, until=None, timeout=RESTIC_TIMEOUT)
            code = proc.wait(timeout=RESTIC_TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return code, shown


def test_run_in_a_terminal_shows_restic_s_progress_and_reports_the_run(
    restic_repo: ResticRepo, gateway: Pushgateway, tmp_path: Path
) -> None:
    repo = restic_repo
    code, shown = run_in_a_terminal(
        repo,
        tmp_path / "spool",
        *("--gateway", gateway.url, "--instance", "host", "--location", "srv"),
        command=("backup", "src"),
    )
    assert code == 0, shown
    assert RESTIC_PROGRESS.search(shown), shown
    assert ERASE_LINE in shown
    (snapshot,) = repo.snapshots()
    assert f"snapshot {snapshot['short_id']} saved".encode() in shown
    assert shown.endswith(f"pushrestic: pushed 1 group to {gateway.url}\r\n".encode()), shown

    pushed = gateway.pushed().where(location="srv", backend="default", instance="host")
    tree = SourceTree(repo.work / "src")
    assert pushed.value("restic_backup_success") == 1
    assert pushed.value("restic_backup_exit_code") == 0
    assert pushed.value("restic_backup_files", state="new") == tree.file_count
    assert pushed.value("restic_backup_dirs", state="new") == tree.dir_count
    assert pushed.value("restic_backup_processed_files") == tree.file_count
    (info,) = pushed.find("restic_backup_info")
    assert info.labels["snapshot_id"] == snapshot["short_id"]
    assert "restic_version" not in info.labels, "restic 0.14's text names no version"


def test_a_failing_restic_in_a_terminal_keeps_its_exit_code_and_is_reported(
    restic_repo: ResticRepo, gateway: Pushgateway, tmp_path: Path
) -> None:
    repo = restic_repo
    code, shown = run_in_a_terminal(
        repo,
        tmp_path / "spool",
        *("--gateway", gateway.url, "--instance", "host", "--location", "srv"),
        command=("backup", "no-such-source"),
    )
    assert code == 1, shown
    assert b"Fatal: " in shown
    pushed = gateway.pushed().where(location="srv", backend="default", instance="host")
    assert pushed.value("restic_backup_success") == 0
    assert pushed.value("restic_backup_exit_code") == 1
