"""Issue 10 with a real restic 0.14: ``--no-lock check`` on damaged repositories, JSON
scan errors against restic's own error count, and the output of commands without a
report (init, unlock, version, snapshots) piped to ``pushrestic push --dry-run``.

The same shapes, and those only newer restic prints, are in
tests/unit/parsers/test_restic_shapes.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import cli
from tests.conftest import require_binary
from tests.integration.conftest import (
    NOBODY,
    PUSH_TIMEOUT,
    RepoFactory,
    ResticLog,
    SourceTree,
    new_repo,
    parse_exposition,
    push_dry_run,
)

pytestmark = pytest.mark.integration

CHECK = {"location": "default", "backend": "default", "operation": "check"}


def pipe_to_push(text: str, *args: str) -> cli.Ran:
    """``restic ... | pushrestic push --dry-run [ARGS]``: pushrestic's side of it."""
    return cli.pushrestic("push", "--dry-run", *args, input=text, timeout=PUSH_TIMEOUT)


def promtool_complaints(exposition: str) -> str:
    done = subprocess.run(
        [require_binary("promtool"), "check", "metrics"],
        input=exposition,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return "" if done.returncode == 0 else done.stdout + done.stderr or "failed"


# -- --no-lock check ---------------------------------------------------------------


@pytest.fixture(scope="module")
def no_lock_checks(make_repo: RepoFactory) -> dict[str, ResticLog]:
    """``restic --no-lock check``: on a sound repository, with a truncated data pack,
    then with the index overwritten as well (restic: 'LoadIndex returned errors')."""
    repo = make_repo("no-lock-check")
    done = repo.run_restic("backup", "--quiet", "src")
    assert done.exit_code == 0, done.combined
    logs = {"sound.log": repo.log("sound.log", "--no-lock", "check")}
    packs = [path for path in (repo.path / "data").rglob("*") if path.is_file()]
    damaged = max(packs, key=lambda path: path.stat().st_size)
    damaged.chmod(0o600)
    os.truncate(damaged, 100)
    logs["damaged-pack.log"] = repo.log("damaged-pack.log", "--no-lock", "check")
    for index in (repo.path / "index").iterdir():
        index.chmod(0o600)
        index.write_bytes(b"not an index\n")
    logs["damaged-index.log"] = repo.log("damaged-index.log", "--no-lock", "check")
    return logs


def test_real_no_lock_check_prints_no_lock_line(no_lock_checks: dict[str, ResticLog]) -> None:
    for log in no_lock_checks.values():
        assert "create exclusive lock" not in log.completed.combined


def test_real_no_lock_check_of_a_sound_repository_is_a_successful_check(
    no_lock_checks: dict[str, ResticLog],
) -> None:
    log = no_lock_checks["sound.log"]
    assert log.exit_code == 0, log.completed.combined
    push = push_dry_run(log.path)
    assert push.exit_code == 0, push.stderr
    assert push.metrics[("restic_check_success", frozenset(CHECK.items()))] == 1
    assert push.series("restic_backup_success") == []


@pytest.mark.parametrize("name", ["damaged-pack.log", "damaged-index.log"])
@pytest.mark.parametrize("given", [False, True], ids=["inferred", "exit-code-given"])
def test_real_no_lock_check_of_a_damaged_repository_is_a_failed_check_not_a_backup(
    no_lock_checks: dict[str, ResticLog], name: str, given: bool
) -> None:
    log = no_lock_checks[name]
    assert log.exit_code == 1, log.completed.combined
    args = ("--exit-code", str(log.exit_code)) if given else ()
    push = push_dry_run(log.path, *args)
    assert push.exit_code == 0, push.stderr
    assert push.metrics[("restic_check_success", frozenset(CHECK.items()))] == 0
    assert push.series("restic_backup_success") == []
    assert push.series("restic_backup_errors") == []
    assert promtool_complaints(push.stdout) == ""


def test_real_no_lock_check_counts_the_damaged_index_as_one_check_error(
    no_lock_checks: dict[str, ResticLog],
) -> None:
    log = no_lock_checks["damaged-index.log"]
    assert "Fatal: LoadIndex returned errors" in log.completed.combined
    push = push_dry_run(log.path)
    assert push.metrics[("restic_check_errors", frozenset(CHECK.items()))] == 1


# -- JSON scan errors against restic's own count ------------------------------------


@pytest.fixture(scope="module")
def locked_directory_backup(
    restic_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ResticLog]:
    """``restic backup --json`` of a tree with a directory it may not list: the scanner
    and the archiver each print an error; restic counts the archiver's (exit 3)."""
    if os.geteuid() == 0:
        require_binary("setpriv")
        outer = Path(tempfile.mkdtemp(prefix="pushrestic-locked-dir-"))
        outer.chmod(0o755)
        run_as: tuple[int, int] | None = (NOBODY, NOBODY)
    else:
        outer = tmp_path_factory.mktemp("locked-dir")
        run_as = None
    try:
        repo = new_repo(restic_template, outer / "work", run_as)
        SourceTree.generate(repo.work / "src")
        locked = repo.work / "src" / "locked"
        locked.mkdir()
        (locked / "inside").write_bytes(b"unreachable\n")
        if run_as is not None:
            repo.chown(*run_as)
        locked.chmod(0o000)
        yield repo.log("locked-dir.jsonl", "backup", "--json", "src")
    finally:
        if run_as is not None:
            shutil.rmtree(outer)


def test_real_json_backup_counts_errors_as_restic_does_not_the_scanners(
    locked_directory_backup: ResticLog,
) -> None:
    log = locked_directory_backup
    assert log.exit_code == 3, log.completed.combined
    records = [
        json.loads(line) for line in log.completed.combined.splitlines() if line.startswith("{")
    ]
    errors = [record for record in records if record.get("message_type") == "error"]
    assert {record["during"] for record in errors} == {"scan", "archival"}
    archival = [record for record in errors if record["during"] == "archival"]
    # restic's own count, when a status line printed after the errors carries it
    # (status lines come at most 60 times a second: a quick run may print none).
    counts = [r.get("error_count", 0) for r in records if r.get("message_type") == "status"]
    push = push_dry_run(log.path)
    assert push.exit_code == 0, push.stderr
    assert push.value("restic_backup_errors") == len(archival) == 1
    assert all(count <= len(archival) for count in counts)
    assert push.value("restic_backup_exit_code") == 3


# -- commands without a report ----------------------------------------------------------


@pytest.fixture(scope="module")
def other_commands(make_repo: RepoFactory) -> dict[str, ResticLog]:
    """Real output of ``restic init``, ``unlock``, ``version``, ``snapshots``, and of an
    ``init`` that fails (the repository exists)."""
    repo = make_repo("other-commands")
    second = repo.work / "second-repo"
    logs = {
        "init.log": repo.log("init.log", "--repo", str(second), "init"),
        "unlock.log": repo.log("unlock.log", "unlock"),
        "version.log": repo.log("version.log", "version"),
    }
    done = repo.run_restic("backup", "--quiet", "src")
    assert done.exit_code == 0, done.combined
    logs["snapshots.log"] = repo.log("snapshots.log", "snapshots")
    logs["init-again.log"] = repo.log("init-again.log", "--repo", str(second), "init")
    return logs


@pytest.mark.parametrize("command", ["init", "unlock", "version", "snapshots"])
@pytest.mark.parametrize("exit_code", [(), ("--exit-code", "0")], ids=["no-code", "code-0"])
def test_real_output_of_a_command_without_a_report_piped_to_push_reports_nothing(
    other_commands: dict[str, ResticLog], command: str, exit_code: tuple[str, ...]
) -> None:
    log = other_commands[f"{command}.log"]
    assert log.exit_code == 0, log.completed.combined
    piped = pipe_to_push(log.completed.combined, *exit_code)
    assert piped.code == 0, piped.stderr
    assert piped.stdout == ""
    assert piped.stderr.strip().splitlines() == [
        f"pushrestic: warning: <stdin>: restic {command} output: nothing to report "
        "(nothing was reported)"
    ]


@pytest.mark.parametrize("command", ["init", "unlock", "version", "snapshots"])
def test_real_output_of_a_command_without_a_report_with_exit_code_1_is_a_failed_run(
    other_commands: dict[str, ResticLog], command: str
) -> None:
    piped = pipe_to_push(other_commands[f"{command}.log"].completed.combined, "--exit-code", "1")
    assert piped.code == 0, piped.stderr
    metrics = parse_exposition(piped.stdout)
    default = frozenset({"location": "default", "backend": "default"}.items())
    assert metrics[("restic_backup_success", default)] == 0
    assert metrics[("restic_backup_exit_code", default)] == 1
    assert f"restic {command} output" in piped.stderr
    assert promtool_complaints(piped.stdout) == ""


def test_real_init_that_fails_is_a_failed_run_by_its_fatal_message(
    other_commands: dict[str, ResticLog],
) -> None:
    log = other_commands["init-again.log"]
    assert log.exit_code == 1, log.completed.combined
    push = push_dry_run(log.path)
    assert push.exit_code == 0, push.stderr
    assert push.value("restic_backup_success") == 0
