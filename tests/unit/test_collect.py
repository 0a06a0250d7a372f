"""From an input to runs: groups, names, end times, and bad input kept as a failed run."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from pushrestic.collect import InputSpec, collect_runs
from pushrestic.errors import InputUnreadable, UsageError
from pushrestic.model import CLOCK_SKEW_SECONDS, ExitCodeSource
from tests.conftest import SAMPLES


def test_a_restic_log_gives_one_run_named_by_the_caller() -> None:
    spec = InputSpec(str(SAMPLES / "restic-0.14-backup-text-initial.log"), location="docs")
    collected = collect_runs(spec)
    assert collected.problem is None
    (run,) = collected.runs
    assert (run.location, run.backend) == ("docs", "default")
    assert run.outcome.exit_code == 0
    assert run.outcome.source is ExitCodeSource.INFERRED


def test_the_run_ends_when_the_log_was_last_written(tmp_path: Path) -> None:
    log = tmp_path / "restic.log"
    log.write_bytes((SAMPLES / "restic-0.14-backup-text-initial.log").read_bytes())
    os.utime(log, (1_700_000_000, 1_700_000_000))
    (run,) = collect_runs(InputSpec(str(log))).runs
    assert run.ended_at == 1_700_000_000


def test_restic_018_json_gives_its_own_end_time() -> None:
    log = SAMPLES / "restic-0.18.1-backup-json-incremental.reconstructed.jsonl"
    (run,) = collect_runs(InputSpec(str(log))).runs
    assert run.ended_at == pytest.approx(1746320401.372918)


def test_an_autorestic_log_gives_one_run_per_location_and_backend() -> None:
    log = SAMPLES / "autorestic-1.8.3-backup-multi-verbose.reconstructed.log"
    runs = collect_runs(InputSpec(str(log))).runs
    assert [(r.location, r.backend, r.outcome.exit_code) for r in runs] == [
        ("documents", "local", 0),
        ("documents", "usb", 0),
        ("config", "local", 0),
        ("mixed", "local", 3),
    ]


def test_the_given_exit_code_does_not_override_autorestic_s_per_backend_codes() -> None:
    log = SAMPLES / "autorestic-1.8.3-backup-multi-verbose.reconstructed.log"
    runs = collect_runs(InputSpec(str(log), exit_code=1)).runs
    assert [r.outcome.exit_code for r in runs] == [0, 0, 0, 3]


def test_a_backend_filter_keeps_only_that_backend() -> None:
    log = SAMPLES / "autorestic-1.8.3-backup-multi-verbose.reconstructed.log"
    runs = collect_runs(InputSpec(str(log), backend="usb")).runs
    assert [(r.location, r.backend) for r in runs] == [("documents", "usb")]


def test_a_filter_that_selects_nothing_is_a_usage_error() -> None:
    log = SAMPLES / "autorestic-1.8.3-backup-multi-verbose.reconstructed.log"
    with pytest.raises(UsageError, match="nope"):
        collect_runs(InputSpec(str(log), location="nope"))


def test_an_unreadable_input_is_kept_as_a_failed_run_with_the_given_code(tmp_path: Path) -> None:
    spec = InputSpec(str(tmp_path / "missing.log"), exit_code=12, location="docs")
    collected = collect_runs(spec, now=42.0)
    assert isinstance(collected.problem, InputUnreadable)
    (run,) = collected.runs
    assert run.location == "docs"
    assert run.outcome.exit_code == 12
    assert not run.outcome.success
    assert run.ended_at == 42.0


def test_a_bad_input_with_exit_code_0_is_still_a_failure(tmp_path: Path) -> None:
    log = tmp_path / "other.log"
    log.write_text("hello\n")
    collected = collect_runs(InputSpec(str(log), exit_code=0))
    assert collected.problem is not None
    (run,) = collected.runs
    assert run.outcome.exit_code is None
    assert not run.outcome.success


# -- run times that cannot be trusted -------------------------------------------

NOW = 1_800_000_000.0
YEAR_2100 = 4_102_444_800.0


def test_a_future_log_time_never_becomes_the_last_success(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = tmp_path / "restic.log"  # touch -d 2100-01-01 restic.log
    log.write_bytes((SAMPLES / "restic-0.14-backup-text-initial.log").read_bytes())
    os.utime(log, (YEAR_2100, YEAR_2100))
    with caplog.at_level(logging.WARNING):
        (run,) = collect_runs(InputSpec(str(log)), now=NOW).runs
    assert run.outcome.success
    assert run.ended_at == NOW
    assert run.last_success_at == NOW
    assert "2100-01-01" in caplog.text
    assert "modification time" in caplog.text


def test_a_log_time_within_the_clock_skew_is_still_the_run_s_end(tmp_path: Path) -> None:
    log = tmp_path / "restic.log"
    log.write_bytes((SAMPLES / "restic-0.14-backup-text-initial.log").read_bytes())
    skewed = NOW + CLOCK_SKEW_SECONDS / 2
    os.utime(log, (skewed, skewed))
    (run,) = collect_runs(InputSpec(str(log)), now=NOW).runs
    assert run.ended_at == skewed


def test_a_future_json_summary_time_falls_back_to_the_log_time(tmp_path: Path) -> None:
    sample = SAMPLES / "restic-0.18.1-backup-json-incremental.reconstructed.jsonl"
    log = tmp_path / "restic.jsonl"
    log.write_text(sample.read_text().replace('"backup_end":"2025-', '"backup_end":"2100-'))
    os.utime(log, (NOW - 60, NOW - 60))
    (run,) = collect_runs(InputSpec(str(log)), now=NOW).runs
    assert run.ended_at == NOW - 60
    assert run.last_success_at == NOW - 60
