"""cli: ``run`` and ``hook`` keep their exit code whatever goes wrong while reporting."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from pushrestic import cli


def broken_report(*args: object) -> int:
    raise RuntimeError("a bug while reporting")


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["run", "--dry-run", "--", "sh", "-c", "exit 4"], 4),
        (["run", "--dry-run", "--", "true"], 0),
        (["hook", "--dry-run", "--location", "srv"], 0),
    ],
)
def test_a_bug_while_reporting_is_one_line_and_leaves_the_exit_code_alone(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: Sequence[str],
    code: int,
) -> None:
    monkeypatch.setattr(cli, "_report", broken_report)
    assert cli.main(argv) == code
    errors = [line for line in capsys.readouterr().err.splitlines() if "internal error" in line]
    assert len(errors) == 1
    assert "RuntimeError: a bug while reporting" in errors[0]


def test_run_without_a_command_is_still_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "--dry-run", "--"]) == cli.EXIT_USAGE
    assert "no command to run" in capsys.readouterr().err
