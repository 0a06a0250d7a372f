"""pushrestic against real restic output: what it reports must be what restic did.

Each scenario fixture (see conftest.py) ran restic once and kept restic's own
truth: ``restic snapshots --json``, its JSON summary, the source tree's real
file count and size. The tests here run ``pushrestic push --dry-run`` on the
logs and compare.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (
    BackupScenario,
    FailureScenario,
    MaintenanceScenario,
    PushResult,
    ResticLog,
    ResticRepo,
    push_dry_run,
    restic_rounding,
    snapshot_time,
)

pytestmark = pytest.mark.integration

FAILURES = (
    "wrong-password.log",
    "no-repository.log",
    "all-sources-missing.log",
    "json-source-missing.log",
    "locked.log",
    "json-locked.log",
)


def pushed(log: ResticLog, *args: str) -> PushResult:
    """The dry run of ``log``; pushrestic itself must have succeeded."""
    result = push_dry_run(log.path, *args)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    return result


def json_summary(log: ResticLog) -> dict[str, Any]:
    """The last ``message_type: summary`` record restic printed."""
    records = [
        json.loads(line)
        for line in log.completed.combined.splitlines()
        if line.startswith('{"message_type":"summary"')
    ]
    assert records, f"no summary in {log.path}"
    summary: dict[str, Any] = records[-1]
    return summary


def assert_failed(result: PushResult) -> None:
    """A failed backup: success 0, no success timestamp, no snapshot, but a last run."""
    assert result.value("restic_backup_success") == 0
    assert result.series("restic_backup_last_success_timestamp_seconds") == []
    assert result.value("restic_backup_last_run_timestamp_seconds") is not None
    assert result.snapshot_ids() in ([], [""])


def assert_matches_json_summary(result: PushResult, summary: dict[str, Any]) -> None:
    """Every value of restic's JSON summary arrived unchanged."""
    for state in ("new", "changed", "unmodified"):
        assert result.value("restic_backup_files", state=state) == summary[f"files_{state}"]
        assert result.value("restic_backup_dirs", state=state) == summary[f"dirs_{state}"]
    assert result.value("restic_backup_blobs", type="data") == summary["data_blobs"]
    assert result.value("restic_backup_blobs", type="tree") == summary["tree_blobs"]
    assert result.value("restic_backup_processed_files") == summary["total_files_processed"]
    assert result.value("restic_backup_processed_bytes") == summary["total_bytes_processed"]
    assert result.value("restic_backup_added_bytes") == summary["data_added"]
    # restic 0.14 has no data_added_packed: the series is left out, never a made-up 0.
    assert result.value("restic_backup_added_stored_bytes") == summary.get("data_added_packed")
    assert result.value("restic_backup_duration_seconds") == pytest.approx(
        summary["total_duration"], abs=1e-6
    )
    assert result.snapshot_ids() == [summary["snapshot_id"]]


# -- the fixture library ------------------------------------------------------


def test_restic_repo_is_an_empty_repository_with_its_cache_in_tmp_path(
    restic_repo: ResticRepo, tmp_path: Path
) -> None:
    assert restic_repo.snapshots() == []
    assert (restic_repo.path / "config").is_file()
    assert restic_repo.cache.is_relative_to(tmp_path)
    assert any(restic_repo.cache.iterdir()), "restic did not use RESTIC_CACHE_DIR"


# -- text backups -------------------------------------------------------------


def test_initial_text_backup_reports_success_the_real_tree_and_the_saved_snapshot(
    text_backups: BackupScenario,
) -> None:
    log, tree = text_backups.logs["initial.log"], text_backups.trees["initial.log"]
    first = text_backups.snapshots[0]
    result = pushed(log)

    assert result.value("restic_backup_success") == 1
    assert result.value("restic_backup_exit_code") == 0
    assert result.value("restic_backup_files", state="new") == tree.files
    assert result.value("restic_backup_files", state="changed") == 0
    assert result.value("restic_backup_files", state="unmodified") == 0
    assert result.value("restic_backup_dirs", state="new") == tree.dirs
    assert result.value("restic_backup_processed_files") == tree.files
    processed = result.value("restic_backup_processed_bytes")
    assert processed == pytest.approx(tree.size, abs=restic_rounding(tree.size))
    assert result.value("restic_backup_errors") == 0
    assert result.snapshot_ids() == [first["short_id"]]
    last_success = result.value("restic_backup_last_success_timestamp_seconds")
    assert last_success is not None
    assert last_success == result.value("restic_backup_last_run_timestamp_seconds")
    assert snapshot_time(first) <= last_success <= log.path.stat().st_mtime + 1e-3


def test_incremental_text_backup_counts_the_changed_and_the_new_file(
    text_backups: BackupScenario,
) -> None:
    log = text_backups.logs["incremental.log"]
    before, after = text_backups.trees["initial.log"], text_backups.trees["incremental.log"]
    first, second = text_backups.snapshots
    assert second["parent"] == first["id"], "restic did not use the first backup as parent"
    result = pushed(log)

    assert result.value("restic_backup_success") == 1
    assert result.value("restic_backup_files", state="new") == 1
    assert result.value("restic_backup_files", state="changed") == 1
    assert result.value("restic_backup_files", state="unmodified") == before.files - 1
    assert result.value("restic_backup_processed_files") == after.files
    processed = result.value("restic_backup_processed_bytes")
    assert processed == pytest.approx(after.size, abs=restic_rounding(after.size))
    added = result.value("restic_backup_added_bytes")
    assert added is not None
    assert added > 0
    assert result.snapshot_ids() == [second["short_id"]]


def test_location_and_backend_flags_label_every_series(text_backups: BackupScenario) -> None:
    result = pushed(text_backups.logs["initial.log"], "--location", "home", "--backend", "usb")

    assert result.metrics
    for _, labels in result.metrics:
        assert ("location", "home") in labels
        assert ("backend", "usb") in labels


# -- JSON backups -------------------------------------------------------------


@pytest.mark.parametrize(("name", "index"), [("initial.jsonl", 0), ("incremental.jsonl", 1)])
def test_json_backup_reports_every_summary_value_exactly(
    json_backups: BackupScenario, name: str, index: int
) -> None:
    log, tree = json_backups.logs[name], json_backups.trees[name]
    summary = json_summary(log)
    snapshot = json_backups.snapshots[index]
    # restic's own numbers agree with the file system and with its repository.
    assert summary["total_files_processed"] == tree.files
    assert summary["total_bytes_processed"] == tree.size
    assert summary["snapshot_id"] == snapshot["short_id"]
    result = pushed(log)

    assert result.value("restic_backup_success") == 1
    assert result.value("restic_backup_exit_code") == 0
    assert_matches_json_summary(result, summary)


# -- verbose backups ----------------------------------------------------------


def test_very_verbose_text_backup_reports_the_summary_despite_item_lines(
    verbose_backups: BackupScenario,
) -> None:
    log, tree = verbose_backups.logs["initial-vv.log"], verbose_backups.trees["initial-vv.log"]
    item_lines = [line for line in log.completed.combined.splitlines() if line.startswith("new ")]
    assert len(item_lines) >= tree.files
    result = pushed(log)

    assert result.value("restic_backup_success") == 1
    assert result.value("restic_backup_files", state="new") == tree.files
    assert result.value("restic_backup_processed_files") == tree.files
    processed = result.value("restic_backup_processed_bytes")
    assert processed == pytest.approx(tree.size, abs=restic_rounding(tree.size))
    data_blobs = result.value("restic_backup_blobs", type="data")
    assert data_blobs is not None
    assert data_blobs > 0
    assert result.snapshot_ids() == [verbose_backups.snapshots[0]["short_id"]]


def test_verbose_json_backup_reports_the_summary_despite_verbose_status_lines(
    verbose_backups: BackupScenario,
) -> None:
    log = verbose_backups.logs["incremental-json-v.jsonl"]
    assert '{"message_type":"verbose_status"' in log.completed.combined
    summary = json_summary(log)
    assert summary["snapshot_id"] == verbose_backups.snapshots[1]["short_id"]
    result = pushed(log)

    assert result.value("restic_backup_success") == 1
    assert_matches_json_summary(result, summary)


# -- dry runs and hostile file names ------------------------------------------


@pytest.mark.parametrize("name", ["dry-run.log", "dry-run.jsonl"])
def test_dry_run_backup_is_no_success_timestamp_and_names_no_snapshot(
    dry_run_backups: BackupScenario, name: str
) -> None:
    log, tree = dry_run_backups.logs[name], dry_run_backups.trees[name]
    assert dry_run_backups.snapshots == [], "restic --dry-run wrote a snapshot"
    result = pushed(log)

    assert result.value("restic_backup_success") == 1
    assert result.series("restic_backup_last_success_timestamp_seconds") == []
    # The JSON summary's snapshot_id is the ID the snapshot would have had: not reported.
    assert result.snapshot_ids() in ([], [""])
    assert result.value("restic_backup_files", state="new") == tree.files


def test_file_names_with_newlines_cannot_fail_a_clean_very_verbose_backup(
    hostile_names_backup: BackupScenario,
) -> None:
    log = hostile_names_backup.logs["hostile-names-vv.log"]
    tree = hostile_names_backup.trees["hostile-names-vv.log"]
    assert log.exit_code == 0
    lines = log.completed.combined.splitlines()
    assert "error: boom, saved in" in "\n".join(lines), "restic 0.15.2+ quotes names"
    (snapshot,) = hostile_names_backup.snapshots
    result = pushed(log)

    assert result.value("restic_backup_success") == 1
    assert result.value("restic_backup_exit_code") == 0
    assert result.value("restic_backup_errors") == 0
    assert result.value("restic_backup_files", state="new") == tree.files
    assert result.snapshot_ids() == [snapshot["short_id"]]


# -- failures -----------------------------------------------------------------


@pytest.mark.parametrize("name", FAILURES)
def test_failed_backup_is_reported_failed_with_no_exit_code_until_one_is_given(
    failed_backups: FailureScenario, name: str
) -> None:
    log = failed_backups.logs[name]
    assert log.exit_code != 0, log.completed.combined
    result = pushed(log)

    assert_failed(result)
    assert result.series("restic_backup_exit_code") == []


@pytest.mark.parametrize("name", FAILURES)
def test_failed_backup_reports_the_exit_code_it_is_given(
    failed_backups: FailureScenario, name: str
) -> None:
    log = failed_backups.logs[name]
    result = pushed(log, "--exit-code", str(log.exit_code))

    assert_failed(result)
    assert result.value("restic_backup_exit_code") == log.exit_code


def test_locked_repository_is_a_failure_though_restic_prints_no_fatal(
    failed_backups: FailureScenario,
) -> None:
    log = failed_backups.logs["locked.log"]
    assert "repository is already locked exclusively" in log.completed.combined
    assert "Fatal:" not in log.completed.combined
    result = pushed(log)

    assert_failed(result)


def test_one_missing_source_of_two_is_a_success_with_one_error_in_restic_0_14(
    source_missing_backup: ResticLog,
) -> None:
    log = source_missing_backup
    assert log.exit_code == 0
    assert "does not exist, skipping" in log.completed.combined
    result = pushed(log)

    assert result.value("restic_backup_success") == 1
    assert result.value("restic_backup_exit_code") == 0
    assert result.value("restic_backup_errors") == 1
    assert len(result.snapshot_ids()) == 1


# -- partial success ----------------------------------------------------------


@pytest.mark.parametrize(("name", "index"), [("unreadable.log", 0), ("unreadable.jsonl", 1)])
def test_unreadable_file_is_a_partial_backup_with_exit_code_3_inferred(
    unreadable_backup: BackupScenario, name: str, index: int
) -> None:
    log, tree = unreadable_backup.logs[name], unreadable_backup.trees[name]
    assert log.exit_code == 3, log.completed.combined
    lines = log.completed.combined.splitlines()
    errors = [line for line in lines if line.startswith(("error: ", '{"message_type":"error"'))]
    snapshot = unreadable_backup.snapshots[index]
    result = pushed(log)

    assert result.value("restic_backup_success") == 0
    assert result.value("restic_backup_exit_code") == 3
    assert result.value("restic_backup_errors") == len(errors) >= 1
    assert result.series("restic_backup_last_success_timestamp_seconds") == []
    assert result.value("restic_backup_processed_files") == tree.files - 1
    assert result.snapshot_ids() == [snapshot["short_id"]]


# -- forget, prune, check -----------------------------------------------------


def test_forget_prune_text_reports_the_snapshots_kept_and_removed(
    maintenance: MaintenanceScenario,
) -> None:
    before, after = maintenance.snapshots["start"], maintenance.snapshots["after-prune"]
    assert len(before) == 3
    assert len(after) == 2
    result = pushed(maintenance.logs["forget-prune.log"])

    assert result.value("restic_forget_kept_snapshots", operation="forget") == len(after)
    assert result.value("restic_forget_removed_snapshots", operation="forget") == len(before) - len(
        after
    )
    assert result.value("restic_prune_removed_blobs", operation="forget") is not None
    assert result.value("restic_repository_size_bytes", operation="forget") is not None
    assert result.series("restic_backup_success") == []


def test_forget_json_reports_the_snapshots_kept_and_removed(
    maintenance: MaintenanceScenario,
) -> None:
    before, after = maintenance.snapshots["after-prune"], maintenance.snapshots["after-json"]
    assert len(after) == 1
    result = pushed(maintenance.logs["forget.json"])

    assert result.value("restic_forget_kept_snapshots", operation="forget") == len(after)
    assert result.value("restic_forget_removed_snapshots", operation="forget") == len(before) - len(
        after
    )
    assert result.series("restic_backup_success") == []


def test_check_of_a_sound_repository_is_a_success(maintenance: MaintenanceScenario) -> None:
    log = maintenance.logs["check.log"]
    assert log.exit_code == 0
    result = pushed(log)

    assert result.value("restic_check_success", operation="check") == 1
    assert result.value("restic_check_last_run_timestamp_seconds", operation="check") is not None
    assert result.series("restic_backup_success") == []


@pytest.mark.parametrize("given", [(), ("--exit-code", "1")])
def test_check_of_a_damaged_repository_is_a_failure(
    maintenance: MaintenanceScenario, given: tuple[str, ...]
) -> None:
    log = maintenance.logs["check-damaged.log"]
    assert log.exit_code == 1
    assert "Fatal: repository contains errors" in log.completed.combined
    result = pushed(log, *given)

    assert result.value("restic_check_success", operation="check") == 0
    assert result.series("restic_backup_success") == []


# -- interrupted --------------------------------------------------------------


def test_backup_interrupted_by_sigint_is_reported_failed(interrupted_backup: ResticLog) -> None:
    log = interrupted_backup
    assert log.exit_code == 130, log.completed.combined
    assert "signal interrupt received, cleaning up" in log.completed.combined
    result = pushed(log)

    assert_failed(result)
    assert result.series("restic_backup_exit_code") == []
    given = pushed(log, "--exit-code", "130")
    assert_failed(given)
    assert given.value("restic_backup_exit_code") == 130
