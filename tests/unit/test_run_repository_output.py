"""``pushrestic run -- restic stats`` and ``run -- restic snapshots --json``: the wrapper
hands their output to the repository parsers, as ``push`` does, instead of reporting a
failed backup. The command is a stand-in printing a sample (``cat``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pushrestic import cli
from pushrestic.sources import command as runner
from pushrestic.sources.command import run_command
from tests.conftest import SAMPLES

REPOSITORY_SAMPLES = [
    "restic-0.14-stats-json.json",
    "restic-0.14-stats-rawdata-text.log",
    "restic-0.14-snapshots-json.json",
    "restic-0.14-snapshots-json-groupby.json",
]


def series(exposition: str) -> list[str]:
    """The samples of an exposition, without the ones that are times of day."""
    return sorted(
        line
        for line in exposition.splitlines()
        if line.startswith(("restic_", "pushrestic_")) and "timestamp_seconds" not in line
    )


def wrap(tmp_path: Path, argv: list[str], fmt: str = "auto") -> runner.Wrapped:
    with (tmp_path / "out").open("wb") as out:
        return run_command(argv, fmt=fmt, stdout=out.fileno(), stderr=out.fileno())


@pytest.mark.parametrize("sample", REPOSITORY_SAMPLES)
@pytest.mark.parametrize("fmt", ["auto", "text", "json"])
def test_run_parses_stats_and_snapshots_output_with_their_own_parsers(
    tmp_path: Path, sample: str, fmt: str
) -> None:
    wrapped = wrap(tmp_path, ["cat", str(SAMPLES / sample)], fmt)
    assert wrapped.parse_error is None
    (group,) = wrapped.groups
    assert group.output.backup is None
    assert (group.output.stats, group.output.snapshots) != ((), None)
    assert (tmp_path / "out").read_bytes() == (SAMPLES / sample).read_bytes()  # passed through


@pytest.mark.parametrize("sample", REPOSITORY_SAMPLES)
def test_pushrestic_run_reports_what_push_reports_for_the_same_output(
    capfd: pytest.CaptureFixture[str], sample: str
) -> None:
    path = str(SAMPLES / sample)
    assert cli.main(["push", "--dry-run", "--location", "repo", path]) == 0
    pushed = capfd.readouterr()
    assert cli.main(["run", "--dry-run", "--location", "repo", "--", "cat", path]) == 0
    ran = capfd.readouterr()
    assert "restic_backup_success" not in ran.out
    assert "error" not in ran.err
    assert series(ran.out) == series(pushed.out) != []


def test_stats_output_that_does_not_parse_is_a_parse_error(tmp_path: Path) -> None:
    wrapped = wrap(tmp_path, [sys.executable, "-c", "print('scanning...')"])
    assert wrapped.groups == ()
    assert wrapped.parse_error is not None


def test_too_much_stats_output_stops_the_parsing_not_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "REPOSITORY_BYTES", 100)
    code = "print('scanning...'); [print('Total Size:  1 KiB') for _ in range(20)]"
    wrapped = wrap(tmp_path, [sys.executable, "-c", code])
    assert wrapped.exit_code == 0
    assert wrapped.parse_error is not None
    assert "restic stats or snapshots output" in str(wrapped.parse_error)
    assert (tmp_path / "out").read_bytes().count(b"Total Size") == 20
