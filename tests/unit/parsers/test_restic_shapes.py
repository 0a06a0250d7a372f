"""Shapes of restic's output that restic's own docs and source show, and pushrestic misread.

Issue 10, items 1, 2, 4, 5 and 6. Each case is written from restic's source at
the tag named in its comment (``restic/restic@<tag>:<path>``) or from restic's
documentation (``doc/040_backup.rst``); a case Debian's restic 0.14 cannot
print is marked "rebuilt". The same shapes from a real restic 0.14 are in
``tests/integration/test_real_restic_check.py``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from pushrestic.errors import InputError, NothingToReport
from pushrestic.model import ExitCodeSource, GroupOutput, Outcome, ResticOutput, Run
from pushrestic.outcome import build_run, resolve_outcome
from pushrestic.parsers import parse_groups
from pushrestic.parsers.restic import numbered, parse_restic
from tests.conftest import SAMPLES

MIB = 1024**2
GIB = 1024**3
INDEX_ID = "caad29c7e670e3215534e7170305429dec9013525c7ffa8d22228acb33329bcb"


def parse_log(*lines: str) -> ResticOutput:
    return parse_restic(numbered(lines))


def outcome_of(output: ResticOutput) -> Outcome:
    return resolve_outcome(GroupOutput(None, None, output))


def run_of(output: ResticOutput) -> Run:
    return build_run(GroupOutput(None, None, output), now=2_000_000_000.0)


def groups(*lines: str) -> list[GroupOutput]:
    return parse_groups(numbered(lines), source="restic.log")


# -- 1. check without the lock line (--no-lock) --------------------------------

# restic@v0.14.0:cmd/restic/cmd_check.go: an index that cannot be loaded is
# 'error: <err>' then Fatal("LoadIndex returned errors"); the lock line is
# printed only without --no-lock. (Real 0.14 output, as test_real_restic_check
# makes it.)
NO_LOCK_DAMAGED_INDEX_0_14 = (
    "using temporary cache in /tmp/restic-check-cache-3823686151",
    "load indexes",
    f"error: error loading index {INDEX_ID}: load <index/caad29c7e6>: invalid data returned",
    "Fatal: LoadIndex returned errors",
)
# Rebuilt from restic@v0.17.0..v0.19.1:cmd/restic/cmd_check.go (printer.E of the
# index errors, the repair hint, Fatal("repository contains errors")), as the
# issue quotes it.
NO_LOCK_DAMAGED_INDEX_0_17 = (
    "using temporary cache in /tmp/restic-check-cache-3823686151",
    "load indexes",
    f"error: error loading index {INDEX_ID}: load <index/caad29c7e6>: invalid data returned",
    "",
    "The repository index is damaged and must be repaired. You must run "
    "`restic repair index' to correct this.",
    "",
    "Fatal: repository contains errors",
)
# The same, as a log keeps it when the two streams interleave the other way:
# the error (stderr) before the progress line (stdout). Rebuilt.
NO_LOCK_DAMAGED_INDEX_STDERR_FIRST = (
    f"error: error loading index {INDEX_ID}: load <index/caad29c7e6>: invalid data returned",
    "load indexes",
    "Fatal: LoadIndex returned errors",
)
# restic@v0.14.0: a truncated pack, --no-lock (real 0.14 output, pack id shortened).
NO_LOCK_DAMAGED_PACK = (
    "using temporary cache in /tmp/restic-check-cache-1",
    "load indexes",
    "check all packs",
    "pack 1234abcd: unexpected file size: got 100, expected 6565272",
    "check snapshots, trees and blobs",
    "[0:00] 100.00%  1 / 1 snapshots",
    "Fatal: repository contains errors",
)


@pytest.mark.parametrize(
    "lines",
    [NO_LOCK_DAMAGED_INDEX_0_14, NO_LOCK_DAMAGED_INDEX_0_17, NO_LOCK_DAMAGED_INDEX_STDERR_FIRST],
    ids=["0.14", "0.17-rebuilt", "stderr-first-rebuilt"],
)
def test_check_without_the_lock_line_on_a_damaged_index_is_a_failed_check_not_a_backup(
    lines: tuple[str, ...],
) -> None:
    output = parse_log(*lines)
    assert output.backup is None
    assert output.check is not None
    assert output.check.ok is False
    assert output.check.errors == 1
    run = run_of(output)
    assert run.operation == "check"
    assert not run.is_backup
    assert not run.outcome.success


def test_check_without_the_lock_line_on_a_damaged_pack_is_a_failed_check() -> None:
    output = parse_log(*NO_LOCK_DAMAGED_PACK)
    assert output.backup is None
    assert output.check is not None
    assert output.check.ok is False
    assert run_of(output).operation == "check"


def test_check_without_the_lock_line_that_found_nothing_is_a_successful_check() -> None:
    output = parse_log(
        "using temporary cache in /tmp/restic-check-cache-1",
        "load indexes",
        "check all packs",
        "check snapshots, trees and blobs",
        "[0:00] 100.00%  1 / 1 snapshots",
        "no errors were found",
    )
    assert output.check is not None
    assert output.check.ok is True
    assert output.backup is None
    assert outcome_of(output) == Outcome(0, ExitCodeSource.INFERRED)


@pytest.mark.parametrize(
    "verdict", ["Fatal: repository contains errors", "Fatal: LoadIndex returned errors"]
)
def test_a_check_verdict_seen_alone_is_a_failed_check(verdict: str) -> None:
    output = parse_log(verdict)
    assert output.backup is None
    assert output.check is not None
    assert output.check.ok is False
    assert run_of(output).operation == "check"


@pytest.mark.parametrize(
    "line",
    [
        "load indexes",
        "check all packs",
        "check snapshots, trees and blobs",
        "read all data",  # --read-data
        "read group #1 of 3 data packs (out of total 9 packs in 3 groups)",  # --read-data-subset
        "using temporary cache in /tmp/restic-check-cache-1",
    ],
)
def test_each_line_only_check_prints_makes_the_output_a_check(line: str) -> None:
    output = parse_log(line)
    assert output.check is not None
    assert output.backup is None


def test_json_check_with_no_lock_and_a_damaged_index_is_a_failed_check() -> None:
    """Rebuilt from restic@v0.18.0:cmd/restic/cmd_check.go (--json: errors, summary, exit_error)."""
    output = parse_log(
        '{"message_type":"error","message":"error: error loading index '
        + INDEX_ID
        + ': invalid data returned\\n"}',
        '{"message_type":"summary","num_errors":1,"broken_packs":null,'
        '"suggest_repair_index":true,"suggest_prune":false}',
        '{"message_type":"exit_error","code":1,"message":"Fatal: repository contains errors"}',
    )
    assert output.backup is None
    assert output.check is not None
    assert (output.check.ok, output.check.errors) == (False, 1)
    assert run_of(output).operation == "check"


def test_a_backup_that_fails_after_an_error_line_is_still_a_failed_backup() -> None:
    output = parse_log(
        "error: open /data/x: permission denied",
        "Fatal: unable to save snapshot: context canceled",
    )
    assert output.check is None
    assert output.backup is not None
    assert output.backup.errors == 1


# -- 2. JSON scan errors do not count ------------------------------------------

# restic@v0.9.6:internal/ui/jsonstatus/status.go .. restic@v0.19.1:internal/ui/backup/json.go:
# ScannerError prints during "scan" and does not touch the error count; only
# Error (the archiver's) prints during "archival" and counts (Progress.Error).
SCAN_ERRORS = (
    # 0.9.5-0.17.0: the Go error value JSON-encoded
    '{"message_type":"error","error":{},"during":"scan","item":"/data/mixed/private"}',
    # 0.17.1+ (rebuilt)
    '{"message_type":"error","error":{"message":"lstat /data/mixed/private: permission denied"},'
    '"during":"scan","item":"/data/mixed/private"}',
)


def summary_line(**fields: Any) -> str:
    record: dict[str, Any] = {
        "message_type": "summary",
        "files_new": 1,
        "files_changed": 0,
        "files_unmodified": 16,
        "dirs_new": 0,
        "dirs_changed": 1,
        "dirs_unmodified": 2,
        "data_blobs": 1,
        "tree_blobs": 2,
        "data_added": 20174,
        "total_files_processed": 17,
        "total_bytes_processed": 5927530,
        "total_duration": 0.25,
        "snapshot_id": "7843ca82",
    }
    record.update(fields)
    return json.dumps(record, separators=(",", ":"))


@pytest.mark.parametrize("scan_error", SCAN_ERRORS, ids=["0.9.5-0.17.0", "0.17.1+"])
def test_a_json_scan_error_is_not_a_backup_error(scan_error: str) -> None:
    output = parse_log(scan_error, summary_line())
    assert output.backup is not None
    assert output.backup.errors == 0
    assert outcome_of(output) == Outcome(0, ExitCodeSource.INFERRED)


def test_a_json_archival_error_still_counts_beside_a_scan_error() -> None:
    output = parse_log(
        SCAN_ERRORS[1],
        '{"message_type":"error","error":{"message":"open /data/mixed/secret.key: '
        'permission denied"},"during":"archival","item":"/data/mixed/secret.key"}',
        summary_line(),
    )
    assert output.backup is not None
    assert output.backup.errors == 1
    assert outcome_of(output).exit_code == 3


def test_json_and_text_count_the_same_errors_for_the_same_run() -> None:
    """restic -v prints the scanner's error as 'scan: <err>' in text, during "scan" in JSON."""
    text = parse_log(
        "scan: lstat /data/mixed/private: permission denied",
        "error: open /data/mixed/secret.key: permission denied",
        "Files:           1 new,     0 changed,    16 unmodified",
        "Dirs:            0 new,     1 changed,     2 unmodified",
        "Added to the repository: 19.701 KiB (19.701 KiB stored)",
        "processed 17 files, 5.653 MiB in 0:00",
        "snapshot 7843ca82 saved",
        "Warning: at least one source file could not be read",
    )
    json_output = parse_log(
        SCAN_ERRORS[1],
        '{"message_type":"error","error":{"message":"open /data/mixed/secret.key: '
        'permission denied"},"during":"archival","item":"/data/mixed/secret.key"}',
        summary_line(),
        "Warning: at least one source file could not be read",
    )
    assert text.backup is not None
    assert json_output.backup is not None
    assert text.backup.errors == json_output.backup.errors == 1


def test_a_log_of_json_scan_errors_alone_is_a_backup_without_errors() -> None:
    output = parse_log(SCAN_ERRORS[0])
    assert output.backup is not None
    assert output.backup.errors == 0


# -- 4. a saved snapshot without the statistics block --------------------------


@pytest.mark.parametrize(
    "lines",
    [
        # doc/040_backup.rst (0.9 .. 0.19): a backup without --verbose, as documented
        ("enter password for repository:", "snapshot 249d0210 saved"),
        # a trimmed log (tail -n 1), or a wrapper that keeps the last line only
        ("snapshot 249d0210 saved",),
        # 0.17+ --skip-if-unchanged (restic@v0.17.0:internal/ui/backup/text.go), trimmed
        ("skipped creating snapshot",),
    ],
    ids=["docs", "trimmed", "skipped-trimmed"],
)
def test_a_saved_snapshot_without_the_statistics_block_is_a_success(
    lines: tuple[str, ...],
) -> None:
    output = parse_log(*lines)
    assert output.backup is not None
    assert output.backup.summary is None
    assert outcome_of(output) == Outcome(0, ExitCodeSource.INFERRED)
    assert run_of(output).protected_data


@pytest.mark.parametrize(
    "lines",
    [
        ("snapshot 249d0210 saved", "Warning: at least one source file could not be read"),
        ("error: open /data/mixed/secret.key: permission denied", "snapshot 249d0210 saved"),
    ],
)
def test_a_saved_snapshot_without_statistics_but_with_unreadable_files_is_exit_3(
    lines: tuple[str, ...],
) -> None:
    assert outcome_of(parse_log(*lines)).exit_code == 3


def test_a_fatal_message_still_fails_a_run_whose_snapshot_line_was_seen() -> None:
    output = parse_log("snapshot 249d0210 saved", "Fatal: unable to remove lock")
    assert outcome_of(output).exit_code is None
    assert not outcome_of(output).success


def test_a_backup_log_without_snapshot_line_nor_summary_is_still_a_failure() -> None:
    output = parse_log("no parent snapshot found, will read all files")
    assert outcome_of(output).exit_code is None


# -- 5. the processed line alone ------------------------------------------------


def test_the_processed_line_seen_alone_reports_files_bytes_and_duration() -> None:
    output = parse_log("processed 5307 files, 1.720 GiB in 0:12")
    assert output.backup is not None
    summary = output.backup.summary
    assert summary is not None
    assert summary.processed_files == 5307
    assert summary.processed_bytes == round(1.720 * GIB)
    assert summary.duration_seconds == 12
    assert summary.files_new is None  # the block restic did not print stays unknown


def test_the_processed_line_and_the_snapshot_line_alone_are_a_success_with_values() -> None:
    """The last two lines of every backup since 0.9 (doc/040_backup.rst), as tail -n 2 has them."""
    output = parse_log("processed 17 files, 5.653 MiB in 0:00", "snapshot 45fbd684 saved")
    assert output.backup is not None
    assert output.backup.summary is not None
    assert output.backup.summary.processed_files == 17
    assert output.backup.summary.processed_bytes == round(5.653 * MIB)
    assert outcome_of(output) == Outcome(0, ExitCodeSource.INFERRED)


# -- 6. restic commands pushrestic does not report ------------------------------


@pytest.mark.parametrize(
    ("lines", "command"),
    [
        (("restic 0.14.0 compiled with go1.19.8 on linux/amd64",), "version"),
        # restic@v0.17.0:cmd/restic/cmd_version.go --json (rebuilt), 0.18 adds message_type
        (
            ('{"version":"0.17.0","go_version":"go1.22.5","go_os":"linux","go_arch":"amd64"}',),
            "version",
        ),
        (
            (
                '{"message_type":"version","version":"0.18.0","go_version":"go1.24.1",'
                '"go_os":"linux","go_arch":"amd64"}',
            ),
            "version",
        ),
        (
            (
                "created restic repository 903e334e87 at /srv/restic-repo-usb",
                "",
                "Please note that knowledge of your password is required to access",
                "the repository. Losing your password means that your data is",
                "irrecoverably lost.",
            ),
            "init",
        ),
        # restic@v0.15.0:cmd/restic/cmd_init.go --json (rebuilt)
        (
            ('{"message_type":"initialized","id":"903e334e87","repository":"/srv/restic-repo"}',),
            "init",
        ),
        (("successfully removed locks",), "unlock"),
        (("successfully removed 2 locks",), "unlock"),  # 0.15+ (rebuilt)
        (
            (
                "ID        Time                 Host        Tags        Paths",
                "----------------------------------------------------------------------",
                "45fbd684  2026-11-21 22:25:13  backuphost              /data/documents",
                "----------------------------------------------------------------------",
                "1 snapshots",
            ),
            "snapshots",
        ),
    ],
)
def test_output_of_a_command_without_a_report_is_named_and_not_a_failed_backup(
    lines: tuple[str, ...], command: str
) -> None:
    with pytest.raises(NothingToReport) as raised:
        groups(*lines)
    assert raised.value.reason == f"restic {command} output: nothing to report"
    assert raised.value.source == "restic.log"
    assert "not restic output" not in str(raised.value)


@pytest.mark.parametrize(
    "name",
    [
        "restic-0.14-version.log",
        "restic-0.14-init-text.log",
        "restic-0.14-init-usb.log",
        "restic-0.14-unlock-text.log",
        "restic-0.14-snapshots-text.log",
        "restic-0.17.3-snapshots-text.reconstructed.log",
    ],
)
def test_samples_of_commands_without_a_report_are_named(name: str) -> None:
    text = (SAMPLES / name).read_text()
    with pytest.raises(NothingToReport, match=r"^.*: restic \w+ output: nothing to report$"):
        parse_groups(numbered(text.split("\n")), source=name)


def test_a_fatal_message_after_a_command_without_a_report_is_still_a_failure() -> None:
    [group] = groups(
        "restic 0.14.0 compiled with go1.19.8 on linux/amd64",
        "Fatal: wrong password or no key found",
    )
    assert resolve_outcome(group).exit_code is None
    assert not resolve_outcome(group).success


def test_a_backup_after_the_version_line_is_reported_as_a_backup() -> None:
    [group] = groups(
        "restic 0.14.0 compiled with go1.19.8 on linux/amd64",
        "processed 17 files, 5.653 MiB in 0:00",
        "snapshot 45fbd684 saved",
    )
    assert group.output.restic_version == "0.14.0"
    assert resolve_outcome(group).success


def test_a_forget_table_is_a_forget_not_a_snapshots_listing() -> None:
    [group] = groups(
        "Applying Policy: keep 1 latest snapshots",
        "keep 1 snapshots:",
        "ID        Time                 Host        Tags        Reasons        Paths",
        "-----------------------------------------------------------------------------",
        "45fbd684  2026-11-21 22:25:13  backuphost              last snapshot  /data",
        "-----------------------------------------------------------------------------",
        "1 snapshots",
    )
    assert group.output.forget is not None


def test_output_that_is_not_restics_is_still_said_to_be_so() -> None:
    with pytest.raises(InputError, match="not restic output") as raised:
        groups("sending incremental file list", "sent 1,234 bytes")
    assert not isinstance(raised.value, NothingToReport)
