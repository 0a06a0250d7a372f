"""Output of restic commands without a report (init, unlock, version, the snapshots
table): named, never a failed backup unless an exit code says the command failed.

Issue 10, item 6; the README's exit-code section says the same.
"""

from __future__ import annotations

import pytest

from tests.cli import pushrestic
from tests.conftest import SAMPLES

SAMPLES_BY_COMMAND = [
    ("restic-0.14-init-text.log", "init"),
    ("restic-0.14-unlock-text.log", "unlock"),
    ("restic-0.14-version.log", "version"),
    ("restic-0.14-snapshots-text.log", "snapshots"),
]


@pytest.mark.parametrize(("name", "command"), SAMPLES_BY_COMMAND)
@pytest.mark.parametrize("exit_code", [(), ("--exit-code", "0")], ids=["no-code", "code-0"])
def test_output_of_a_command_without_a_report_reports_nothing_and_says_why(
    name: str, command: str, exit_code: tuple[str, ...]
) -> None:
    result = pushrestic("push", "--dry-run", *exit_code, str(SAMPLES / name))
    assert result.code == 0, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"restic {command} output: nothing to report" in lines[0]
    assert "not restic output" not in lines[0]
    assert "nothing was reported" in lines[0]


@pytest.mark.parametrize(("name", "command"), SAMPLES_BY_COMMAND)
def test_output_of_a_command_without_a_report_with_a_failing_exit_code_is_a_failed_run(
    name: str, command: str
) -> None:
    result = pushrestic("push", "--dry-run", "--exit-code", "1", str(SAMPLES / name))
    assert result.code == 0, result.stderr
    assert result.value("restic_backup_success") == 0
    assert result.value("restic_backup_exit_code") == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"restic {command} output" in lines[0]
    assert "failed" in lines[0]


def test_a_wrapped_command_without_a_report_that_succeeds_reports_nothing() -> None:
    log = SAMPLES / "restic-0.14-unlock-text.log"
    result = pushrestic("run", "--dry-run", "--", "cat", str(log))
    assert result.code == 0, result.stderr
    assert result.stdout == log.read_text()  # the command's own output, passed through
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "restic unlock output: nothing to report" in lines[0]
    assert "nothing was reported" in lines[0]


def test_a_wrapped_command_without_a_report_that_fails_is_a_failed_run() -> None:
    log = SAMPLES / "restic-0.14-unlock-text.log"
    result = pushrestic("run", "--dry-run", "--", "sh", "-c", f"cat {log}; exit 1")
    assert result.code == 1
    report = result.stdout.removeprefix(log.read_text())
    assert 'restic_backup_success{backend="default",location="default"} 0.0' in report
    assert 'restic_backup_exit_code{backend="default",location="default"} 1.0' in report
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "restic unlock output" in lines[0]
    assert "failed" in lines[0]
