"""How a run ended: a given code, restic's exit_error, autorestic's code, or the output."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from pushrestic.model import (
    CLOCK_SKEW_SECONDS,
    DEFAULT_BACKEND,
    DEFAULT_LOCATION,
    BackupResult,
    BackupSummary,
    CheckResult,
    ExitCodeSource,
    ForgetResult,
    GroupOutput,
    Outcome,
    PruneResult,
    ResticOutput,
)
from pushrestic.outcome import build_run, failed_run, infer_outcome, resolve_outcome

SUMMARY = BackupSummary(files_new=1, processed_files=1, processed_bytes=584, ended_at=1700.0)
SAVED = BackupResult(summary=SUMMARY, snapshot_id="45fbd684")


def backup(*, missing_sources: int = 0, **changes: Any) -> ResticOutput:
    """A backup's output: SAVED with ``changes``."""
    return ResticOutput(
        backup=replace(SAVED, **changes), missing_sources=missing_sources, recognized=True
    )


def group(output: ResticOutput, exit_code: int | None = None) -> GroupOutput:
    return GroupOutput(None, None, output, exit_code)


# -- inferred from the output --------------------------------------------------


def test_infer_outcome_says_0_for_a_summary_and_a_saved_snapshot() -> None:
    assert infer_outcome(backup()) == Outcome(0, ExitCodeSource.INFERRED)


def test_infer_outcome_says_0_for_a_saved_snapshot_without_the_summary() -> None:
    """restic prints 'snapshot ... saved' only when the run succeeded (issue 10, item 4)."""
    assert infer_outcome(backup(summary=None)) == Outcome(0, ExitCodeSource.INFERRED)
    assert infer_outcome(backup(summary=None, unreadable_warning=True)).exit_code == 3


@pytest.mark.parametrize(
    "output",
    [
        backup(snapshot_id=None, snapshot_skipped=True),
        backup(snapshot_id=None, summary=BackupSummary(files_new=1, dry_run=True)),
        backup(summary=BackupSummary(files_new=1, dry_run=True)),
    ],
    ids=["skipped", "text-dry-run", "json-dry-run"],
)
def test_infer_outcome_says_0_for_a_deliberately_absent_snapshot(output: ResticOutput) -> None:
    assert infer_outcome(output).exit_code == 0


@pytest.mark.parametrize(
    "output",
    [backup(unreadable_warning=True), backup(errors=2), backup(errors=2, missing_sources=1)],
    ids=["warning", "errors", "more-errors-than-missing-sources"],
)
def test_infer_outcome_says_3_when_files_could_not_be_read(output: ResticOutput) -> None:
    outcome = infer_outcome(output)
    assert (outcome.exit_code, outcome.reason) == (3, "some source files could not be read")


@pytest.mark.parametrize(
    ("version", "exit_code"),
    [
        (None, 0),
        ("0.14.0", 0),
        ("0.18.1", 0),
        ("0.19.0", 3),
        ("0.19.1", 3),
        ("0.19.0-dev (compiled manually)", 3),
        ("1.0.0", 3),
        ("unknown", 0),
    ],
)
def test_infer_outcome_says_3_for_a_missing_source_only_from_restic_0_19(
    version: str | None, exit_code: int
) -> None:
    output = ResticOutput(
        backup=BackupResult(summary=SUMMARY, snapshot_id="45fbd684", errors=1),
        missing_sources=1,
        restic_version=version,
        recognized=True,
    )
    assert infer_outcome(output).exit_code == exit_code


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        (ResticOutput(interrupted=True, fatal="signal interrupt received"), "interrupted"),
        (ResticOutput(fatal="Fatal: wrong password or no key found"), "Fatal: wrong password"),
        (backup(summary=None, snapshot_id=None), "no backup summary in the output"),
        (backup(snapshot_id=None), "no snapshot was saved"),
        (ResticOutput(check=CheckResult(ok=False, errors=2)), "check did not report"),
        (ResticOutput(), "no restic output"),
        (ResticOutput(forget=ForgetResult(3, 1), fatal="Fatal: no policy"), "Fatal: no policy"),
    ],
    ids=["interrupt", "fatal", "no-summary", "no-snapshot", "check", "nothing", "forget-fatal"],
)
def test_infer_outcome_reports_a_failure_without_a_code(output: ResticOutput, reason: str) -> None:
    outcome = infer_outcome(output)
    assert (outcome.exit_code, outcome.source) == (None, ExitCodeSource.UNKNOWN)
    assert outcome.reason.startswith(reason)
    assert not outcome.success


@pytest.mark.parametrize(
    "output",
    [
        ResticOutput(check=CheckResult(ok=True)),
        ResticOutput(forget=ForgetResult(3, 6)),
        ResticOutput(prune=PruneResult(removed_blobs=0)),
    ],
    ids=["check", "forget", "prune"],
)
def test_infer_outcome_says_0_for_a_finished_maintenance_command(output: ResticOutput) -> None:
    assert infer_outcome(output) == Outcome(0, ExitCodeSource.INFERRED)


# -- precedence ------------------------------------------------------------------


def test_resolve_outcome_prefers_a_given_code_to_everything_else() -> None:
    output = ResticOutput(exit_error_code=12, fatal="Fatal: wrong password or no key found")
    outcome = resolve_outcome(group(output, exit_code=10), given_exit_code=1)
    assert outcome == Outcome(1, ExitCodeSource.GIVEN, "Fatal: wrong password or no key found")


def test_resolve_outcome_prefers_restic_exit_error_to_autorestic_code() -> None:
    output = ResticOutput(exit_error_code=12, fatal="Fatal: wrong password or no key found")
    outcome = resolve_outcome(group(output, exit_code=1))
    assert (outcome.exit_code, outcome.source) == (12, ExitCodeSource.EXIT_ERROR)


def test_resolve_outcome_prefers_autorestic_code_to_the_output() -> None:
    outcome = resolve_outcome(group(backup(unreadable_warning=True), exit_code=3))
    assert outcome == Outcome(3, ExitCodeSource.AUTORESTIC, "some source files could not be read")


def test_resolve_outcome_infers_when_no_code_is_known() -> None:
    assert resolve_outcome(group(backup())) == Outcome(0, ExitCodeSource.INFERRED)


@pytest.mark.parametrize(
    ("code", "output", "reason"),
    [
        (0, ResticOutput(fatal="Fatal: looks bad"), ""),
        (3, backup(), "snapshot saved, some files could not be read"),
        (3, backup(unreadable_warning=True), "some source files could not be read"),
        (130, backup(), "exit code 130"),
        (1, ResticOutput(fatal="Fatal: wrong password"), "Fatal: wrong password"),
    ],
)
def test_resolve_outcome_explains_a_given_code_with_what_the_output_shows(
    code: int, output: ResticOutput, reason: str
) -> None:
    assert resolve_outcome(group(output), given_exit_code=code).reason == reason


def test_outcome_of_3_is_partial_not_success() -> None:
    outcome = Outcome(3, ExitCodeSource.GIVEN)
    assert (outcome.success, outcome.partial) == (False, True)


# -- runs --------------------------------------------------------------------------


def test_build_run_names_a_plain_restic_log_with_the_callers_names_or_defaults() -> None:
    assert (build_run(group(backup())).location, build_run(group(backup())).backend) == (
        DEFAULT_LOCATION,
        DEFAULT_BACKEND,
    )
    run = build_run(group(backup()), location="docs", backend="usb")
    assert (run.location, run.backend) == ("docs", "usb")


def test_build_run_keeps_the_names_the_input_gives() -> None:
    run = build_run(GroupOutput("docs", "local", backup(), 0), location="x", backend="y")
    assert (run.location, run.backend) == ("docs", "local")
    assert run.outcome.source is ExitCodeSource.AUTORESTIC


def test_build_run_ends_the_run_when_restic_says_it_ended_else_when_the_caller_says() -> None:
    assert build_run(group(backup()), ended_at=9999.0).ended_at == 1700.0
    no_end = backup(summary=BackupSummary(files_new=1))
    assert build_run(group(no_end), ended_at=9999.0).ended_at == 9999.0
    assert build_run(group(ResticOutput(fatal="Fatal: x")), ended_at=5.0).ended_at == 5.0


def test_build_run_protects_data_only_for_a_successful_real_backup() -> None:
    assert build_run(group(backup())).protected_data
    assert not build_run(group(backup(unreadable_warning=True))).protected_data
    dry = backup(summary=BackupSummary(files_new=1, dry_run=True))
    assert not build_run(group(dry)).protected_data


@pytest.mark.parametrize(
    ("given", "code", "source"),
    [
        (None, None, ExitCodeSource.UNKNOWN),
        (0, None, ExitCodeSource.UNKNOWN),  # a bad input never passes for a success
        (1, 1, ExitCodeSource.GIVEN),
        (3, 3, ExitCodeSource.GIVEN),
    ],
)
def test_failed_run_never_reports_success(
    given: int | None, code: int | None, source: ExitCodeSource
) -> None:
    run = failed_run("docs", None, "unreadable input", exit_code=given, ended_at=1.0)
    assert (run.location, run.backend) == ("docs", DEFAULT_BACKEND)
    assert run.outcome == Outcome(code, source, "unreadable input")
    assert not run.outcome.success
    assert run.ended_at == 1.0


def test_build_run_trusts_no_end_time_from_the_future() -> None:
    now = 2000.0
    future = backup(summary=replace(SUMMARY, ended_at=now + 10 * CLOCK_SKEW_SECONDS))
    assert build_run(group(future), ended_at=1900.0, now=now).ended_at == 1900.0
    assert build_run(group(future), ended_at=now + 3600, now=now).ended_at == now
    assert build_run(group(future), now=now).ended_at == now
    no_end = backup(summary=BackupSummary(files_new=1))
    assert build_run(group(no_end), ended_at=float("inf"), now=now).ended_at == now
    assert build_run(group(no_end), now=now).ended_at is None  # nothing said, nothing made up


def test_build_run_gives_a_success_its_own_time_even_after_a_future_one() -> None:
    now = 2000.0
    run = build_run(group(backup()), ended_at=4_102_444_800.0, now=now)
    assert run.ended_at == 1700.0  # restic's own summary time
    no_end = backup(summary=BackupSummary(files_new=1))
    run = build_run(group(no_end), ended_at=4_102_444_800.0, now=now)
    assert run.last_success_at == now
