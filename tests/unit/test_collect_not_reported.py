"""collect: output of restic commands without a report (issue 10, item 6) gives no
run, unless an exit code says the command failed; the same for push, run and journal."""

from __future__ import annotations

import pytest

from pushrestic.collect import not_reported, runs_of_command
from pushrestic.errors import NothingToReport
from pushrestic.model import ExitCodeSource
from pushrestic.sources.command import Wrapped

NOTICE = NothingToReport(("unlock",), source="<stdin>")


def wrapped(exit_code: int) -> Wrapped:
    return Wrapped(("restic", "unlock"), exit_code, (), 10.0, 12.0, 2.0, None, None, NOTICE)


def test_the_notice_names_the_commands_and_the_input() -> None:
    notice = NothingToReport(("version", "unlock"), source="x.log")
    assert str(notice) == "x.log: restic version and unlock output: nothing to report"


@pytest.mark.parametrize("exit_code", [None, 0])
def test_without_a_failing_exit_code_there_is_no_run(exit_code: int | None) -> None:
    assert not_reported(NOTICE, exit_code, None, None, ended_at=5.0) == []


def test_a_failing_exit_code_is_one_failed_run_of_that_command() -> None:
    [run] = not_reported(NOTICE, 11, "srv", None, ended_at=5.0)
    assert (run.location, run.outcome.exit_code, run.ended_at) == ("srv", 11, 5.0)
    assert run.outcome.source is ExitCodeSource.GIVEN
    assert run.outcome.reason == "restic unlock failed"
    assert not run.outcome.success


def test_a_wrapped_command_without_a_report_that_succeeds_gives_no_run() -> None:
    assert runs_of_command(wrapped(0)) == ([], NOTICE)


def test_a_wrapped_command_without_a_report_that_fails_is_a_failed_run_with_its_time() -> None:
    [run], problem = runs_of_command(wrapped(1))
    assert problem is NOTICE
    assert (run.outcome.exit_code, run.ended_at, run.wall_seconds) == (1, 12.0, 2.0)
