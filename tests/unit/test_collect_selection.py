"""collect: the four inputs give one result type and treat a selection that
matches nothing alike (a usage error); the CLI keeps ``run``'s exit code and
says so; a bad ``$EXIT_STATUS`` is reported as a failed run, not lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from pushrestic import cli
from pushrestic.collect import (
    Collected,
    InputSpec,
    collect_runs,
    runs_of_command,
    runs_of_hook,
    runs_of_journal,
)
from pushrestic.errors import InputError, UsageError
from pushrestic.model import GroupOutput, ResticOutput
from pushrestic.sources.command import Wrapped
from tests.conftest import SAMPLES

AUTORESTIC_LOG = SAMPLES / "autorestic-1.8.3-backup-multi-verbose.reconstructed.log"
HOOK = {
    "AUTORESTIC_LOCATION": "documents",
    "AUTORESTIC_SNAPSHOT_ID_0": "ee542e57",
    "AUTORESTIC_SNAPSHOT_ID_USB": "ee542e57",
    "AUTORESTIC_EXIT_CODE_0": "0",
    "AUTORESTIC_EXIT_CODE_USB": "0",
}


def wrapped_groups(*groups: GroupOutput, exit_code: int = 0) -> Wrapped:
    return Wrapped(("autorestic", "backup"), exit_code, groups, 10.0, 12.0, 2.0, None, None, None)


def test_every_input_returns_the_same_result_type() -> None:
    results = [
        collect_runs(InputSpec(str(AUTORESTIC_LOG))),
        runs_of_command(wrapped_groups(GroupOutput(None, None, ResticOutput()))),
        runs_of_hook(HOOK, now=100.0),
        runs_of_journal("missing.service", {}, files=["/nonexistent/journal"], now=100.0),
    ]
    assert all(isinstance(result, Collected) for result in results)
    assert all(isinstance(result.runs, list) for result in results)


def test_a_selection_that_matches_no_group_is_a_usage_error_for_every_input() -> None:
    named = GroupOutput("documents", "usb", ResticOutput())
    with pytest.raises(UsageError, match="'nope'"):
        collect_runs(InputSpec(str(AUTORESTIC_LOG), location="nope"))
    with pytest.raises(UsageError, match="'nope'"):
        runs_of_command(wrapped_groups(named), location="nope")
    with pytest.raises(UsageError, match="'nope'"):
        runs_of_hook(HOOK, location="nope", now=100.0)


def test_the_command_s_duration_goes_to_its_unnamed_group_only() -> None:
    named = GroupOutput("documents", "usb", ResticOutput())
    (run,) = runs_of_command(wrapped_groups(named)).runs
    assert run.wall_seconds is None
    (run,) = runs_of_command(wrapped_groups(GroupOutput(None, None, ResticOutput()))).runs
    assert run.wall_seconds == 2.0


def test_an_exit_status_that_does_not_parse_is_a_failed_run_with_the_problem() -> None:
    runs, problem = runs_of_journal(
        "backup.service", {"EXIT_CODE": "exited", "EXIT_STATUS": "lots"}, now=100.0
    )
    assert isinstance(problem, InputError)
    assert "EXIT_STATUS" in str(problem)
    (run,) = runs
    assert not run.outcome.success
    assert run.ended_at == 100.0


def test_run_with_a_selection_that_matches_nothing_keeps_the_command_s_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "autorestic.log"
    log.write_bytes(AUTORESTIC_LOG.read_bytes())
    argv = ["run", "--dry-run", "--location", "nope", "--", "sh", "-c", f"cat {log}; exit 3"]
    assert cli.main(argv) == 3
    captured = capsys.readouterr()
    assert "no run for location 'nope'" in captured.err
    assert "nothing was reported" in captured.err
    assert "restic_backup" not in captured.out


def test_hook_with_a_selection_that_matches_nothing_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in HOOK.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["hook", "--dry-run", "--location", "nope"]) == cli.EXIT_USAGE
    assert "no run for location 'nope'" in capsys.readouterr().err
