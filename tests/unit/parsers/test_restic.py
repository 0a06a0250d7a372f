"""restic's output, text and --json, 0.9 to 0.19: every sample, and what only the reference shows.

The manifest's ``expected`` values are the ground truth for the samples; the
hand-written logs below are built from restic's format strings (its source at each
release tag, e.g. https://github.com/restic/restic/blob/master/internal/ui/backup/text.go)
for the cases no sample holds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from pushrestic.errors import InputError, NothingToReport
from pushrestic.model import (
    BackupResult,
    BackupSummary,
    ExitCodeSource,
    GroupOutput,
    Outcome,
    ResticOutput,
)
from pushrestic.outcome import resolve_outcome
from pushrestic.parsers import parse_groups
from pushrestic.parsers.restic import ResticParser, numbered, parse_restic
from pushrestic.parsers.units import parse_duration, parse_size, parse_timestamp
from tests.conftest import SAMPLES, manifest

MIB = 1024**2
GIB = 1024**3
TIB = 1024**4

RESTIC_SAMPLES = [entry for entry in manifest() if entry["tool"] == "restic"]
REPORTED_COMMANDS = frozenset({"backup", "forget", "prune", "check"})
OTHER_COMMANDS = frozenset({"version", "init", "snapshots", "stats", "unlock"})
# Commands whose output holds nothing to report ('snapshots' as a table; its --json
# and 'stats' have reports of their own, tested with their parsers).
UNREPORTED_COMMANDS = frozenset({"version", "init", "unlock", "snapshots"})

# manifest key -> BackupSummary attribute, for values compared as they are
SUMMARY_KEYS = {
    "files_new": "files_new",
    "files_changed": "files_changed",
    "files_unmodified": "files_unmodified",
    "dirs_new": "dirs_new",
    "dirs_changed": "dirs_changed",
    "dirs_unmodified": "dirs_unmodified",
    "data_blobs": "data_blobs",
    "tree_blobs": "tree_blobs",
    "total_files_processed": "processed_files",
    "total_bytes_processed": "processed_bytes",
    "data_added": "added_bytes",
    "data_added_packed": "added_stored_bytes",
    "total_duration": "duration_seconds",
}
# manifest key -> BackupSummary attribute, for sizes printed as text
TEXT_SIZE_KEYS = {
    "added_text": "added_bytes",
    "stored_text": "added_stored_bytes",
    "processed_bytes_text": "processed_bytes",
}
TIME_KEYS = {"backup_start": "started_at", "backup_end": "ended_at"}
# manifest key -> PruneResult attribute
PRUNE_KEYS = {
    "to_repack_blobs": "repacked_blobs",
    "this_removes_blobs": "repack_removed_blobs",
    "to_delete_blobs": "deleted_blobs",
    "total_prune_blobs": "removed_blobs",
    "remaining_blobs": "remaining_blobs",
}


def parse_log(*lines: str) -> ResticOutput:
    return parse_restic(numbered(lines))


def parse_sample(name: str) -> ResticOutput:
    text = (SAMPLES / name).read_bytes().decode("utf-8", "replace")
    return parse_restic(numbered(text.split("\n")), source=name)


def groups_or_error(name: str) -> list[GroupOutput] | InputError:
    text = (SAMPLES / name).read_text()
    try:
        return parse_groups(numbered(text.split("\n")), source=name)
    except InputError as error:
        return error


def outcome_of(output: ResticOutput) -> Outcome:
    return resolve_outcome(GroupOutput(None, None, output))


def subcommand(entry: dict[str, Any]) -> str:
    command: str = entry["command"]
    words = command.split()
    return next(word for word in words if word in REPORTED_COMMANDS | OTHER_COMMANDS)


def summary_of(output: ResticOutput) -> BackupSummary:
    assert output.backup is not None, "no backup in the output"
    assert output.backup.summary is not None, "no backup summary in the output"
    return output.backup.summary


def backup_of(output: ResticOutput) -> BackupResult:
    assert output.backup is not None, "no backup in the output"
    return output.backup


def parsed_value(output: ResticOutput, key: str) -> Any:
    """The parsed value for one key of a manifest entry's ``expected``."""
    if key in SUMMARY_KEYS:
        return getattr(summary_of(output), SUMMARY_KEYS[key])
    if key in TEXT_SIZE_KEYS:
        return getattr(summary_of(output), TEXT_SIZE_KEYS[key])
    if key == "duration_text":
        return summary_of(output).duration_seconds
    if key in TIME_KEYS:
        return getattr(summary_of(output), TIME_KEYS[key])
    if key in PRUNE_KEYS:
        assert output.prune is not None, "no prune in the output"
        return getattr(output.prune, PRUNE_KEYS[key])
    if key == "snapshot_id":
        return backup_of(output).snapshot_id
    if key == "parent_snapshot_id":
        return backup_of(output).parent_snapshot_id
    if key == "warning":
        return backup_of(output).unreadable_warning
    if key == "dry_run":
        return backup_of(output).dry_run
    if key == "snapshot_skipped":
        return backup_of(output).snapshot_skipped
    if key == "exit_error_code":
        return output.exit_error_code
    if key == "num_errors":
        assert output.check is not None, "no check in the output"
        return output.check.errors
    raise AssertionError(f"manifest key {key!r} is not checked by this test: add it")


def expected_value(key: str, value: Any) -> Any:
    """The manifest's value in base units."""
    if key in TEXT_SIZE_KEYS:
        return parse_size(value)
    if key == "duration_text":
        return parse_duration(value)
    if key in TIME_KEYS:
        return parse_timestamp(value)
    return value


# -- every sample, against its manifest entry --------------------------------


@pytest.mark.parametrize(
    "entry",
    [entry for entry in RESTIC_SAMPLES if "expected" in entry],
    ids=lambda entry: entry["file"],
)
def test_sample_parses_to_every_value_its_manifest_entry_expects(entry: dict[str, Any]) -> None:
    output = parse_sample(entry["file"])
    expected = {key: expected_value(key, value) for key, value in entry["expected"].items()}
    parsed = {key: parsed_value(output, key) for key in expected}
    assert parsed == expected


@pytest.mark.parametrize(
    "entry",
    [entry for entry in RESTIC_SAMPLES if "added_text" in entry.get("expected", {})],
    ids=lambda entry: entry["file"],
)
def test_text_sample_without_a_stored_size_leaves_it_unknown_rather_than_zero(
    entry: dict[str, Any],
) -> None:
    stored = summary_of(parse_sample(entry["file"])).added_stored_bytes
    if "stored_text" in entry["expected"]:
        assert stored == parse_size(entry["expected"]["stored_text"])
    else:  # before 0.14 restic printed no stored size
        assert stored is None


@pytest.mark.parametrize(
    "entry",
    [entry for entry in RESTIC_SAMPLES if subcommand(entry) in REPORTED_COMMANDS],
    ids=lambda entry: entry["file"],
)
def test_sample_outcome_matches_the_exit_code_restic_returned(entry: dict[str, Any]) -> None:
    output = parse_sample(entry["file"])
    outcome = outcome_of(output)
    exit_code = entry["exit_code"]
    if output.lines <= 1 and not output.recognized:
        # 'backup --quiet' prints nothing on success: there is nothing to infer
        # from, and an empty log must not pass for a success.
        assert entry["file"] == "restic-0.14-backup-text-quiet.log"
        assert outcome.exit_code is None
    elif exit_code in (0, 3):
        assert outcome.exit_code == exit_code, outcome.reason
    else:
        assert outcome.exit_code != 0
        assert not outcome.success
        if output.exit_error_code is not None:  # 0.18+ says its code in JSON
            assert outcome == Outcome(exit_code, ExitCodeSource.EXIT_ERROR, outcome.reason)


def unreported(entry: dict[str, Any]) -> bool:
    return subcommand(entry) in UNREPORTED_COMMANDS and "--json" not in entry["command"]


@pytest.mark.parametrize(
    "entry", [entry for entry in RESTIC_SAMPLES if unreported(entry)], ids=lambda e: e["file"]
)
def test_sample_of_a_command_without_a_report_parses_and_is_no_successful_backup(
    entry: dict[str, Any],
) -> None:
    output = parse_sample(entry["file"])
    assert output.backup is None
    assert output.forget is None
    assert output.prune is None
    assert output.check is None
    assert not outcome_of(output).success


@pytest.mark.parametrize(
    "entry", [entry for entry in RESTIC_SAMPLES if unreported(entry)], ids=lambda e: e["file"]
)
def test_sample_of_a_command_without_a_report_is_named_by_parse_groups(
    entry: dict[str, Any],
) -> None:
    result = groups_or_error(entry["file"])
    assert isinstance(result, NothingToReport)
    assert result.source == entry["file"]
    assert result.reason == f"restic {subcommand(entry)} output: nothing to report"


def test_empty_quiet_backup_log_is_refused_as_empty_input() -> None:
    with pytest.raises(InputError, match="empty input"):
        parse_groups(numbered([]), source="quiet.log")


# -- text backup: what the reference describes -------------------------------

LARGE_BACKUP = (
    "using parent snapshot 1a2b3c4d",
    "",
    "Files:        1523 new,    87 changed, 245812 unmodified",
    "Dirs:          210 new,    45 changed, 100321 unmodified",
    "Added to the repository: 12.345 GiB (9.876 GiB stored)",
    "",
    "processed 247422 files, 1.234 TiB in 26:03:10",
    "snapshot 5e6f7a8b saved",
)


def test_text_parser_reads_counts_that_overflow_the_five_column_width() -> None:
    summary = summary_of(parse_log(*LARGE_BACKUP))
    assert (summary.files_new, summary.files_changed, summary.files_unmodified) == (
        1523,
        87,
        245812,
    )
    assert (summary.dirs_new, summary.dirs_changed, summary.dirs_unmodified) == (210, 45, 100321)
    assert summary.processed_files == 247422


def test_text_parser_reads_durations_past_24_hours_as_seconds() -> None:
    summary = summary_of(parse_log(*LARGE_BACKUP))
    assert summary.duration_seconds == 26 * 3600 + 3 * 60 + 10
    assert summary.processed_bytes == round(1.234 * TIB)
    assert summary.added_bytes == round(12.345 * GIB)
    assert summary.added_stored_bytes == round(9.876 * GIB)


@pytest.mark.parametrize(
    ("line", "added", "stored"),
    [
        ("Added:      1.700 GiB", round(1.7 * GIB), None),  # 0.9.0-0.9.1
        ("Added:      584 B  ", 584, None),  # '%-5s' pads short sizes
        ("Added to the repo: 5.661 MiB", round(5.661 * MIB), None),  # 0.9.2-0.13
        ("Added to the repo: 0 B  ", 0, None),
        ("Added to the repository: 5.661 MiB (4.185 MiB stored)", 5935989, 4388291),  # 0.14+
        ("Added to the repository: 0 B   (0 B   stored)", 0, 0),
    ],
)
def test_text_parser_reads_every_added_line_restic_ever_printed(
    line: str, added: int, stored: int | None
) -> None:
    output = parse_log(
        "Files:          17 new,     0 changed,     0 unmodified",
        "Dirs:            5 new,     0 changed,     0 unmodified",
        line,
        "",
        "processed 17 files, 5.653 MiB in 0:00",
        "snapshot 45fbd684 saved",
    )
    summary = summary_of(output)
    assert (summary.added_bytes, summary.added_stored_bytes) == (added, stored)
    assert not summary.dry_run
    assert outcome_of(output).exit_code == 0


@pytest.mark.parametrize(
    "line",
    [
        "Would add to the repo: 7.823 KiB",  # 0.13
        "Would add to the repository: 7.823 KiB (2.436 KiB stored)",  # 0.14+
    ],
)
def test_text_parser_marks_a_dry_run_by_its_would_add_line(line: str) -> None:
    output = parse_log(
        "using parent snapshot 4649fb37",
        "Files:           0 new,     1 changed,    16 unmodified",
        "Dirs:            0 new,     3 changed,     2 unmodified",
        line,
        "",
        "processed 17 files, 5.652 MiB in 0:00",
    )
    backup = backup_of(output)
    assert backup.dry_run
    assert summary_of(output).added_bytes == round(7.823 * 1024)
    assert backup.snapshot_id is None
    assert not backup.snapshot_saved
    assert outcome_of(output).exit_code == 0


def test_text_parser_reports_a_skipped_snapshot_as_a_success_without_id() -> None:
    output = parse_log(
        "using parent snapshot 40dc1520",
        "",
        "Files:           0 new,     0 changed,    18 unmodified",
        "Dirs:            0 new,     0 changed,     5 unmodified",
        "Added to the repository: 0 B   (0 B   stored)",
        "",
        "processed 18 files, 5.653 MiB in 0:00",
        "skipped creating snapshot",
    )
    backup = backup_of(output)
    assert backup.snapshot_skipped
    assert backup.snapshot_id is None
    assert not backup.snapshot_saved
    assert outcome_of(output).exit_code == 0


@pytest.mark.parametrize(
    "warning",
    [
        "Warning: failed to read all source data during backup",  # 0.10.0-0.12.0
        "Warning: at least one source file could not be read",  # 0.12.1+
    ],
)
def test_text_parser_infers_exit_3_from_either_unreadable_warning(warning: str) -> None:
    output = parse_log(
        "no parent snapshot found, will read all files",
        "",
        "Files:           1 new,     0 changed,     0 unmodified",
        "Dirs:            2 new,     0 changed,     0 unmodified",
        "Added to the repository: 1.669 KiB (1.173 KiB stored)",
        "",
        "processed 1 files, 584 B in 0:00",
        "snapshot 54c68058 saved",
        "error: open /data/mixed/secret.key: permission denied",
        warning,
    )
    backup = backup_of(output)
    assert backup.unreadable_warning
    assert backup.errors == 1
    assert backup.snapshot_saved
    assert outcome_of(output).exit_code == 3


def test_text_parser_infers_exit_3_from_error_lines_without_the_final_warning() -> None:
    output = parse_log(
        "Files:           1 new,     0 changed,     0 unmodified",
        "Dirs:            2 new,     0 changed,     0 unmodified",
        "Added to the repo: 1.669 KiB",
        "processed 1 files, 584 B in 0:00",
        "snapshot eddf99c5 saved",
        "error: open /data/mixed/secret.key: permission denied",
    )
    assert outcome_of(output).exit_code == 3


def test_text_parser_reports_an_interrupt_after_the_clear_line_escape_as_a_failure() -> None:
    output = parse_log(
        "using parent snapshot 45fbd684",
        "\x1b[2Ksignal interrupt received, cleaning up",
    )
    assert output.interrupted
    assert output.fatal == "signal interrupt received, cleaning up"
    outcome = outcome_of(output)
    assert outcome.exit_code is None
    assert outcome.reason == "interrupted"


def test_text_parser_reads_the_summary_after_progress_lines_and_file_names() -> None:
    # RESTIC_PROGRESS_FPS: every update is an ordinary line, current files on their own lines
    output = parse_log(
        "no parent snapshot found, will read all files",
        "[0:00] 0 files 0 B, total 0 files 0 B, 0 errors",
        "[0:00] 17 files 42.453 MiB, total 18 files 45.652 MiB, 0 errors",
        "/data/documents/big.bin",
        "/data/documents/report 2026.pdf",
        "[0:01] 99.43%  17 files 45.391 MiB, total 18 files 45.652 MiB, 0 errors ETA 0:00",
        "/data/documents/big.bin",
        "",
        "Files:          18 new,     0 changed,     0 unmodified",
        "Dirs:            5 new,     0 changed,     0 unmodified",
        "Added to the repository: 45.661 MiB (45.185 MiB stored)",
        "",
        "processed 18 files, 45.652 MiB in 0:01",
        "snapshot 1c801e48 saved",
    )
    summary = summary_of(output)
    assert summary.files_new == 18
    assert summary.processed_bytes == round(45.652 * MIB)
    assert summary.duration_seconds == 1
    assert outcome_of(output).exit_code == 0


def test_text_parser_takes_the_last_summary_block_when_a_file_name_looks_like_one() -> None:
    # up to 0.15.1 -vv printed names raw: a newline in a name injects lines
    output = parse_log(
        "using parent snapshot 45fbd684",
        "new       /data/documents/evil",
        "Files:        999 new,     0 changed,     0 unmodified",
        "Dirs:         999 new,     0 changed,     0 unmodified",
        "Added to the repo: 1.000 TiB",
        "processed 999 files, 1.000 TiB in 9:59:59",
        "snapshot deadbeef saved",
        ", saved in 0.002s (702 B added)",
        "unchanged /data/documents/a.txt",
        "modified  /data/documents/, saved in 0.006s (0 B added, 0 B stored, 955 B metadata)",
        "",
        "Files:           1 new,     0 changed,    16 unmodified",
        "Dirs:            0 new,     1 changed,     4 unmodified",
        "Added to the repository: 2.113 KiB (1.010 KiB stored)",
        "",
        "processed 17 files, 5.653 MiB in 0:00",
        "snapshot cc52f26a saved",
    )
    summary = summary_of(output)
    assert (summary.files_new, summary.files_unmodified, summary.dirs_new) == (1, 16, 0)
    assert summary.added_bytes == round(2.113 * 1024)
    assert summary.duration_seconds == 0
    assert backup_of(output).snapshot_id == "cc52f26a"


CLEAN_SUMMARY = (
    "",
    "Files:          12 new,     0 changed,     0 unmodified",
    "Dirs:            6 new,     0 changed,     0 unmodified",
    "Added to the repository: 1.037 MiB (1.035 MiB stored)",
    "",
    "processed 12 files, 1.031 MiB in 0:01",
    "snapshot ca63d5be saved",
)


@pytest.mark.parametrize(
    "rest_of_item",
    [
        "error: boom, saved in 0.000s (9 B added)",
        "Fatal: kaboom, saved in 0.001s (0 B added)",
        "Warning: at least one source file could not be read, saved in 0.001s (0 B added)",
        "Fatal: kaboom, saved in 0.002s (702 B added, 302 B stored)",  # 0.14+ modified
        "error: boom/, saved in 0.006s (0 B added, 0 B stored, 955 B metadata)",  # a directory
        "error: boom/, saved in 0.006s (0 B added, 955 B metadata)",  # <= 0.13 directory
    ],
)
def test_text_parser_ignores_the_rest_of_an_item_line_a_file_name_broke(rest_of_item: str) -> None:
    # restic 0.14 -vv, a file named 'evil\nerror: boom' (captured by the integration tests)
    output = parse_log(
        "no parent snapshot found, will read all files",
        "new       /src/docs/evil",
        rest_of_item,
        "new       /src/docs/notes.md, saved in 0.005s (5.000 KiB added)",
        *CLEAN_SUMMARY,
    )
    backup = backup_of(output)
    assert (output.fatal, backup.errors, backup.unreadable_warning) == (None, 0, False)
    assert outcome_of(output).exit_code == 0


def test_text_parser_forgets_a_verdict_a_file_name_injected_before_the_summary() -> None:
    # a name with two newlines leaves a whole line that looks like restic's own
    output = parse_log(
        "new       /src/docs/evil",
        "Fatal: kaboom",
        "Warning: at least one source file could not be read",
        "snapshot deadbeef saved",
        "x, saved in 0.001s (0 B added)",
        *CLEAN_SUMMARY,
    )
    backup = backup_of(output)
    assert (output.fatal, backup.unreadable_warning) == (None, False)
    assert backup.snapshot_id == "ca63d5be"
    assert outcome_of(output).exit_code == 0


def test_text_parser_keeps_a_fatal_printed_after_the_summary() -> None:
    # 0.17+: Finish prints the summary before 'unable to save snapshot'
    output = parse_log(*CLEAN_SUMMARY[:-1], "Fatal: unable to save snapshot: context canceled")
    assert output.fatal == "Fatal: unable to save snapshot: context canceled"
    assert outcome_of(output).exit_code is None


def test_text_parser_keeps_an_interrupt_seen_before_the_summary() -> None:
    output = parse_log("\x1b[2Ksignal interrupt received, cleaning up", *CLEAN_SUMMARY)
    assert output.interrupted
    assert outcome_of(output).exit_code is None


def test_json_parser_takes_the_verdict_of_the_last_run_when_a_script_runs_several() -> None:
    output = parse_log(
        '{"message_type":"exit_error","code":12,"message":"Fatal: wrong password or no key found"}',
        summary_line(snapshot_id=FULL_ID),
    )
    assert (output.exit_error_code, output.fatal) == (None, None)
    assert outcome_of(output).exit_code == 0


def test_text_parser_takes_the_last_backup_when_a_script_runs_several() -> None:
    first_json = json.dumps(
        {
            "message_type": "summary",
            "files_new": 5,
            "total_files_processed": 5,
            "total_bytes_processed": 10,
            "snapshot_id": "aaaaaaaa",
        }
    )
    output = parse_log(
        first_json,
        "Files:           0 new,     0 changed,     3 unmodified",
        "Dirs:            0 new,     0 changed,     1 unmodified",
        "Added to the repository: 0 B   (0 B   stored)",
        "processed 3 files, 1.000 KiB in 0:00",
        "snapshot bbbbbbbb saved",
    )
    summary = summary_of(output)
    assert (summary.files_new, summary.files_unmodified, summary.processed_bytes) == (0, 3, 1024)
    assert backup_of(output).snapshot_id == "bbbbbbbb"


def test_text_parser_counts_missing_sources_without_failing_a_pre_0_19_backup() -> None:
    output = parse_log(
        "/data/does-not-exist does not exist, skipping",
        "using parent snapshot 589bbdb1",
        "Files:           0 new,     0 changed,    17 unmodified",
        "Dirs:            0 new,     0 changed,     5 unmodified",
        "Added to the repository: 0 B   (0 B   stored)",
        "processed 17 files, 5.652 MiB in 0:00",
        "snapshot 175936da saved",
    )
    assert output.missing_sources == 1
    assert outcome_of(output).exit_code == 0


@pytest.mark.parametrize(
    ("version_line", "exit_code"),
    [
        ("restic 0.19.0 compiled with go1.24.4 on linux/amd64", 3),
        ("restic 0.19.1 compiled with go1.24.4 on linux/amd64", 3),
        ("restic 0.18.1 compiled with go1.24.2 on linux/amd64", 0),
    ],
)
def test_text_parser_infers_exit_3_for_a_missing_source_once_the_version_says_0_19(
    version_line: str, exit_code: int
) -> None:
    output = parse_log(
        version_line,
        "/data/does-not-exist does not exist, skipping",
        "using parent snapshot 589bbdb1",
        "Files:           0 new,     0 changed,    17 unmodified",
        "Dirs:            0 new,     0 changed,     5 unmodified",
        "Added to the repository: 0 B   (0 B   stored)",
        "processed 17 files, 5.652 MiB in 0:00",
        "snapshot 175936da saved",
    )
    assert output.restic_version == version_line.split()[1]
    assert outcome_of(output).exit_code == exit_code


@pytest.mark.parametrize(
    "lines",
    [
        [
            "unable to create lock in backend: repository is already locked exclusively by "
            "PID 14795 on backuphost by backupuser (UID 1001, GID 1001)",
            "lock was created at 2026-11-21 22:25:27 (3.09s ago)",
            "storage ID 930b9a5d",
            "the `unlock` command can be used to remove stale locks",
        ],
        ["Fatal: unable to create lock in backend: repository is already locked by PID 1"],
        ["reading repository password from stdin", "Fatal: an empty password is not a password"],
        ["Fatal: unable to save snapshot: context canceled"],
    ],
)
def test_text_parser_reports_a_fatal_or_lock_failure_as_a_failure_without_a_code(
    lines: list[str],
) -> None:
    output = parse_log(*lines)
    assert output.fatal == lines[-1] if lines[-1].startswith("Fatal") else lines[0]
    assert output.backup is None
    outcome = outcome_of(output)
    assert outcome.exit_code is None
    assert outcome.source is ExitCodeSource.UNKNOWN


@pytest.mark.parametrize(
    "line",
    [
        "processed 1 files, 1.5 B in 0:00",  # a size restic cannot print
        "processed 1 files, 584 B in 0:75",  # a duration restic cannot print
        "Added to the repository: 1.5 B (1 B stored)",
    ],
)
def test_text_parser_raises_an_input_error_naming_the_line_whose_value_does_not_parse(
    line: str,
) -> None:
    with pytest.raises(InputError) as error:
        parse_restic(
            numbered(["Files:           1 new,     0 changed,     0 unmodified", line]),
            source="backup.log",
        )
    assert error.value.line == 2
    assert str(error.value).startswith("backup.log:2: ")


def test_text_parser_ignores_lines_it_does_not_know_and_says_so() -> None:
    output = parse_log("hello", "world", "")
    assert output == ResticOutput(lines=3)


# -- JSON backup ------------------------------------------------------------


def summary_line(**fields: Any) -> str:
    record: dict[str, Any] = {
        "message_type": "summary",
        "files_new": 1,
        "files_changed": 1,
        "files_unmodified": 16,
        "dirs_new": 0,
        "dirs_changed": 3,
        "dirs_unmodified": 2,
        "data_blobs": 2,
        "tree_blobs": 4,
        "data_added": 20174,
        "total_files_processed": 18,
        "total_bytes_processed": 5927530,
        "total_duration": 0.254713481,
    }
    record.update(fields)
    return json.dumps(record, separators=(",", ":"))


FULL_ID = "7843ca82d5b1f0a3e9c4b6a7f2e81d90c3b5a4e6f7d8c9b0a1e2f3d4c5b6a798"


@pytest.mark.parametrize("snapshot_id", ["7843ca82", FULL_ID])
def test_json_parser_keeps_a_short_or_a_full_snapshot_id_as_printed(snapshot_id: str) -> None:
    output = parse_log(summary_line(snapshot_id=snapshot_id))
    assert backup_of(output).snapshot_id == snapshot_id
    assert backup_of(output).snapshot_saved
    assert outcome_of(output).exit_code == 0


def test_json_parser_reports_a_summary_without_snapshot_id_as_a_skipped_snapshot() -> None:
    output = parse_log(summary_line(data_added_packed=0))
    backup = backup_of(output)
    assert backup.snapshot_id is None
    assert backup.snapshot_skipped
    assert outcome_of(output).exit_code == 0


def test_json_parser_reports_a_dry_run_whose_snapshot_id_was_never_written() -> None:
    output = parse_log(summary_line(snapshot_id="662d49e8", dry_run=True))
    backup = backup_of(output)
    assert backup.dry_run
    assert backup.snapshot_id == "662d49e8"
    assert not backup.snapshot_saved
    assert not backup.snapshot_skipped
    assert outcome_of(output).exit_code == 0


def test_json_parser_reads_0_18_start_and_end_times() -> None:
    output = parse_log(
        summary_line(
            data_added_packed=4655,
            backup_start="2025-05-04T03:00:01.118204657+02:00",
            backup_end="2025-05-04T03:00:01.372918138+02:00",
            snapshot_id=FULL_ID,
        )
    )
    summary = summary_of(output)
    assert summary.started_at == pytest.approx(1746320401.118204657, abs=1e-6)
    assert summary.ended_at == pytest.approx(1746320401.372918138, abs=1e-6)
    assert summary.added_stored_bytes == 4655


def test_json_parser_counts_every_shape_of_archival_error_record_and_no_scan_error() -> None:
    output = parse_log(
        '{"message_type":"error","error":{},"during":"scan","item":"/data/mixed/private"}',
        '{"message_type":"error","error":{},"during":"archival","item":"/data/mixed/private"}',
        '{"message_type":"error","error":{"Op":"open","Path":"/data/mixed/secret.key","Err":13},'
        '"during":"archival","item":"/data/mixed/secret.key"}',
        '{"message_type":"error","error":{"message":"open /data/mixed/x: permission denied"},'
        '"during":"archival","item":"/data/mixed/x"}',
        summary_line(snapshot_id="7843ca82"),
    )
    assert backup_of(output).errors == 3  # restic counts the archiver's errors only
    assert outcome_of(output).exit_code == 3


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (3, "Warning: at least one source file could not be read"),
        (
            10,
            "Fatal: repository does not exist: unable to open config file: stat "
            "/srv/no-such-repo/config: no such file or directory\n"
            "Is there a repository at the following location?\n/srv/no-such-repo",
        ),
        (
            11,
            "unable to create lock in backend: repository is already locked exclusively by "
            "PID 14795 on backuphost by backupuser (UID 1001, GID 1001)\n"
            "lock was created at 2026-11-21 22:25:27 (3.09s ago)\nstorage ID 930b9a5d\n"
            "the `unlock` command can be used to remove stale locks",
        ),
        (12, "Fatal: wrong password or no key found"),
    ],
)
def test_json_parser_takes_the_exit_code_of_a_0_18_exit_error_line(code: int, message: str) -> None:
    exit_error = json.dumps({"message_type": "exit_error", "code": code, "message": message})
    lines = [summary_line(snapshot_id=FULL_ID), exit_error] if code == 3 else [exit_error]
    output = parse_log(*lines)
    assert output.exit_error_code == code
    outcome = outcome_of(output)
    assert (outcome.exit_code, outcome.source) == (code, ExitCodeSource.EXIT_ERROR)
    if code == 3:
        assert output.fatal is None
        assert backup_of(output).unreadable_warning
    else:
        first_line = message.partition("\n")[0]
        assert output.fatal == first_line
        assert outcome.reason == first_line


@pytest.mark.parametrize(
    "scan_finished",
    [
        # 0.9-0.15: message_type "status" although it carries an action
        '{"message_type":"status","action":"scan_finished","item":"","duration":0.2,'
        '"data_size":5927600,"metadata_size":0,"total_files":18}',
        # 0.16+
        '{"message_type":"verbose_status","action":"scan_finished","item":"","duration":0.2,'
        '"data_size":5927600,"data_size_in_repo":0,"metadata_size":0,'
        '"metadata_size_in_repo":0,"total_files":18}',
        # the same record, not in restic's field order
        '{"action":"scan_finished","message_type":"status","duration":0.2,"total_files":18}',
    ],
)
def test_json_parser_tolerates_scan_finished_records_of_every_version(scan_finished: str) -> None:
    output = parse_log(
        '{"message_type":"status","percent_done":0,"total_files":1}',
        scan_finished,
        summary_line(snapshot_id="7843ca82"),
    )
    assert summary_of(output).processed_files == 18
    assert backup_of(output).errors == 0
    assert outcome_of(output).exit_code == 0


def test_json_parser_reports_a_plain_text_fatal_in_a_json_log_as_a_failure() -> None:
    output = parse_log(
        '{"message_type":"status","percent_done":0.5,"total_files":19,"files_done":9}',
        "Fatal: unable to save snapshot: context canceled",
    )
    assert output.fatal == "Fatal: unable to save snapshot: context canceled"
    assert outcome_of(output).exit_code is None


def test_json_parser_reports_a_log_cut_off_mid_summary_as_a_failure() -> None:
    output = parse_log(
        '{"message_type":"status","percent_done":0.99,"total_files":19,"files_done":18}',
        summary_line(snapshot_id="7843ca82")[:57],
    )
    backup = backup_of(output)
    assert backup.summary is None
    outcome = outcome_of(output)
    assert outcome.exit_code is None
    assert outcome.reason == "no backup summary in the output"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("files_new", -1),
        ("files_new", "1"),
        ("files_new", 1.5),
        ("files_new", True),
        ("total_duration", -0.1),
        ("total_duration", "0.2"),
        ("dry_run", "yes"),
        ("snapshot_id", 7843),
        ("backup_start", "yesterday"),
    ],
)
def test_json_parser_raises_an_input_error_for_a_summary_field_of_the_wrong_kind(
    field: str, value: Any
) -> None:
    with pytest.raises(InputError, match=field) as error:
        parse_restic(numbered([summary_line(**{field: value})]), source="b.jsonl")
    assert error.value.line == 1


@pytest.mark.parametrize(
    "number",
    ["NaN", "Infinity", "-Infinity", pytest.param("1" + "0" * 400, id="beyond-a-float")],
)
def test_json_parser_refuses_a_duration_that_is_no_finite_number(number: str) -> None:
    line = summary_line(total_duration=0).replace(
        '"total_duration":0', f'"total_duration":{number}'
    )
    with pytest.raises(InputError, match="total_duration"):
        parse_log(line)


def test_json_parser_treats_json_nested_too_deep_as_an_unknown_line() -> None:
    output = parse_log("[" * 100_000 + "]" * 100_000)
    assert not output.recognized


# -- forget ------------------------------------------------------------------


def test_json_forget_counts_kept_and_removed_snapshots_with_remove_null() -> None:
    snapshot = {"time": "2026-11-21T22:25:32Z", "paths": ["/d"], "id": "2e8a0d58" * 8}
    groups = [
        {
            "tags": None,
            "host": "h",
            "paths": ["/d"],
            "keep": [snapshot, snapshot],
            "remove": None,
            "reasons": [{"snapshot": snapshot, "matches": ["last snapshot"]}],
        },
        {
            "tags": None,
            "host": "h",
            "paths": ["/e"],
            "keep": [snapshot],
            "remove": [snapshot] * 3,
            "reasons": [],
        },
    ]
    output = parse_log(json.dumps(groups))
    assert output.forget is not None
    assert (output.forget.kept_snapshots, output.forget.removed_snapshots) == (3, 3)
    assert not output.forget.dry_run
    assert output.backup is None
    assert outcome_of(output).exit_code == 0


@pytest.mark.parametrize(
    "dry_run_line",
    [
        "Would have removed the following snapshots:",  # 0.10+
        "6 snapshots would be removed, running prune dry run",  # 0.16+ with --prune
    ],
)
def test_text_forget_marks_a_dry_run(dry_run_line: str) -> None:
    output = parse_log(
        "Applying Policy: keep 3 latest snapshots",
        "keep 3 snapshots:",
        "3 snapshots",
        "",
        "remove 6 snapshots:",
        "6 snapshots",
        "",
        dry_run_line,
        "{45fbd684 4649fb37 589bbdb1 7cd10f77 cc52f26a e0554f42}",
    )
    assert output.forget is not None
    assert output.forget.dry_run
    assert (output.forget.kept_snapshots, output.forget.removed_snapshots) == (3, 6)


def test_text_forget_of_explicit_ids_counts_each_removed_snapshot() -> None:
    output = parse_log("removed snapshot 45fbd684", "removed snapshot 4649fb37")
    assert output.forget is not None
    assert output.forget.removed_snapshots == 2


# -- prune -------------------------------------------------------------------


def test_prune_parser_reads_the_pre_0_12_generation() -> None:
    output = parse_log(
        "counting files in repo",
        "building new index for repo",
        "repository contains 26 packs (4135 blobs) with 94.874 MiB",
        "processed 4135 blobs: 0 duplicate blobs, 0B duplicate",  # '%dB' up to 0.9.3
        "load all snapshots",
        "find data that is still in use for 8 snapshots",
        "found 4119 of 4135 data blobs still in use, removing 16 blobs",
        "will remove 0 invalid files",
        "will delete 1 packs and rewrite 3 packs, this frees 7.789 KiB",
        "remove 11 old index files",
        "done",
    )
    prune = output.prune
    assert prune is not None
    assert prune.removed_blobs == 16
    assert prune.freed_bytes == round(7.789 * 1024)
    assert prune.repository_size_bytes == round(94.874 * MIB) - round(7.789 * 1024)
    assert output.forget is None
    assert outcome_of(output).exit_code == 0


@pytest.mark.parametrize(
    "rows",
    [
        (  # 0.12.x: 'this removes' has no colon
            "to repack:           45 blobs / 21.377 KiB",
            "this removes          4 blobs / 1.907 KiB",
            "to delete:           12 blobs / 5.882 KiB",
            "total prune:         16 blobs / 7.789 KiB",
            "remaining:          116 blobs / 84.205 MiB",
        ),
        (  # 0.13+
            "to repack:            45 blobs / 21.377 KiB",
            "this removes:          4 blobs / 1.907 KiB",
            "to delete:            12 blobs / 5.882 KiB",
            "total prune:          16 blobs / 7.789 KiB",
            "not yet compressed:              1.200 MiB",
            "remaining:           116 blobs / 84.205 MiB",
        ),
    ],
)
def test_prune_parser_reads_the_0_12_generation_with_and_without_colons(
    rows: Sequence[str],
) -> None:
    output = parse_log(
        "loading indexes...",
        "loading all snapshots...",
        *rows,
        "unused size after prune: 3.375 KiB (0.00% of remaining size)",
        "",
        "done",
    )
    prune = output.prune
    assert prune is not None
    assert (prune.repacked_blobs, prune.repack_removed_blobs, prune.deleted_blobs) == (45, 4, 12)
    assert (prune.removed_blobs, prune.remaining_blobs) == (16, 116)
    assert prune.freed_bytes == round(7.789 * 1024)
    assert prune.repacked_bytes == round(21.377 * 1024)
    assert prune.repository_size_bytes == round(84.205 * MIB)
    assert prune.unused_bytes == round(3.375 * 1024)
    assert not prune.dry_run


def test_prune_parser_keeps_blob_rows_when_verbose_output_repeats_the_labels_for_packs() -> None:
    output = parse_log(
        "used:                 95 blobs / 84.196 MiB",
        "unused:                5 blobs / 3.375 KiB",
        "total:               100 blobs / 84.200 MiB",
        "unused size: 0.00% of total size",
        "",
        "to repack:            45 blobs / 21.377 KiB",
        "this removes:          4 blobs / 1.907 KiB",
        "to delete:            12 blobs / 5.882 KiB",
        "total prune:          16 blobs / 7.789 KiB",
        "remaining:           116 blobs / 84.205 MiB",
        "unused size after prune: 3.375 KiB (0.00% of remaining size)",
        "",
        "totally used packs:          8",
        "partly used packs:           1",
        "unused packs:                0",
        "",
        "to keep:               9 packs",
        "to repack:             3 packs",
        "to delete:             1 packs",
        "Would have repacked and removed the following packs:",
        "{}",
    )
    prune = output.prune
    assert prune is not None
    assert (prune.repacked_blobs, prune.deleted_blobs, prune.removed_blobs) == (45, 12, 16)
    assert prune.dry_run


def test_forget_with_prune_json_then_text_gives_both_results() -> None:
    output = parse_sample("restic-0.14-forget-prune-json.log")
    assert output.forget is not None
    assert output.prune is not None
    assert (output.forget.kept_snapshots, output.forget.removed_snapshots) == (6, 2)
    assert output.prune.removed_blobs == 8


# -- check -------------------------------------------------------------------

CHECK_START = (
    "using temporary cache in /var/cache/restic-scratch/restic-check-cache-1234",
    "create exclusive lock for repository",
    "load indexes",
    "check all packs",
)


def test_text_check_reports_no_errors_found_as_success() -> None:
    output = parse_log(
        *CHECK_START,
        "check snapshots, trees and blobs",
        "[0:00] 100.00%  6 / 6 snapshots",
        "no errors were found",
    )
    assert output.check is not None
    assert output.check.ok
    assert output.backup is None
    assert outcome_of(output).exit_code == 0


def test_text_check_reports_repository_contains_errors_as_a_failure() -> None:
    output = parse_log(
        *CHECK_START,
        "pack 1234abcd: unexpected file size: got 100, expected 6565272",
        "check snapshots, trees and blobs",
        "[0:00] 100.00%  6 / 6 snapshots",
        "Fatal: repository contains errors",
    )
    assert output.check is not None
    assert output.check.ok is False
    assert output.backup is None
    assert output.fatal == "Fatal: repository contains errors"
    assert outcome_of(output).exit_code is None


def test_text_check_cut_off_before_its_verdict_is_a_failure() -> None:
    output = parse_log(*CHECK_START, "check snapshots, trees and blobs")
    assert output.check is not None
    assert output.check.ok is False
    assert outcome_of(output).exit_code is None


def test_json_check_with_errors_is_a_failed_check_and_no_backup() -> None:
    output = parse_log(
        '{"message_type":"error","message":"pack 1234abcd: unexpected file size"}',
        '{"message_type":"error","message":"tree 5678ef01: file \\"a\\" blob 0 not found"}',
        '{"message_type":"summary","num_errors":2,"broken_packs":["1234abcd"],'
        '"suggest_repair_index":false,"suggest_prune":true}',
        '{"message_type":"exit_error","code":1,"message":"Fatal: repository contains errors"}',
    )
    assert output.check is not None
    assert output.check.ok is False
    assert output.check.errors == 2
    assert output.backup is None
    assert outcome_of(output) == Outcome(
        1, ExitCodeSource.EXIT_ERROR, "Fatal: repository contains errors"
    )


def test_json_check_without_its_exit_error_line_is_still_a_failure() -> None:
    output = parse_log('{"message_type":"summary","num_errors":1,"broken_packs":null}')
    assert output.check is not None
    assert output.check.errors == 1
    assert outcome_of(output).exit_code is None


# -- the incremental parser ---------------------------------------------------


def test_incremental_parser_gives_the_result_of_everything_fed_so_far() -> None:
    parser = ResticParser("b.log")
    parser.feed(1, "Files:          17 new,     0 changed,     0 unmodified\n")
    assert outcome_of(parser.result()).exit_code is None
    parser.feed(2, "processed 17 files, 5.653 MiB in 0:00\r\n")
    parser.feed(3, "snapshot 45fbd684 saved")
    output = parser.result()
    assert backup_of(output).snapshot_id == "45fbd684"
    assert output.lines == 3
    assert outcome_of(output).exit_code == 0


def test_parser_keeps_what_a_terminal_progress_line_left_after_a_carriage_return() -> None:
    output = parse_log(
        "[0:00] 10 files 1.000 MiB\r[0:01] 17 files 5.653 MiB\rFiles:  17 new,  0 changed,  "
        "0 unmodified",
        "processed 17 files, 5.653 MiB in 0:01",
        "snapshot 45fbd684 saved",
    )
    assert summary_of(output).files_new == 17
