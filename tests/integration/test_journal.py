"""read_unit_journal against the real journalctl, reading real journal files.

The journal files are built from the export-format fixtures in
``tests/fixtures/journal`` by systemd's own ``systemd-journal-remote`` (Debian
package systemd-journal-remote), then read with ``journalctl --file``/``-D``:
the matches, the reverse search for the latest invocation and the JSON output
are journalctl's, not a stand-in's. Expected times come from the fixtures'
own ``__REALTIME_TIMESTAMP`` fields.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from pushrestic.errors import InputError, InputUnreadable, UsageError
from pushrestic.parsers import parse_groups
from pushrestic.sources.journalctl import UnitJournal, outcome_from_environment, read_unit_journal
from tests.conftest import FIXTURES, require_binary
from tests.integration.journals import Journals

pytestmark = pytest.mark.integration

EXPORTS = FIXTURES / "journal"
UNIT = "restic-backup.service"
FIRST = "0b6c1e0f4a2d4f6b9c8e7d6a5b4c3d21"  # the older invocation in every fixture
SECOND = "7e5f3a2b1c0d4e9f8a7b6c5d4e3f2a10"  # the newer one
JOURNAL_REMOTE_DIRS = ("/usr/lib/systemd", "/lib/systemd")
BUILD_TIMEOUT = 60


def export_times(name: str) -> Iterator[tuple[float, dict[str, str]]]:
    """(time, fields) of each entry of an export fixture."""
    for block in (EXPORTS / f"{name}.export").read_text(encoding="utf-8").split("\n\n"):
        if block.strip():
            fields = dict(line.partition("=")[::2] for line in block.splitlines())
            yield int(fields["__REALTIME_TIMESTAMP"]) / 1_000_000, fields


def time_of(name: str, invocation: str, message_start: str) -> float:
    """When the fixture's entry of ``invocation`` whose MESSAGE starts so was logged."""
    for at, fields in export_times(name):
        ids = (fields.get("INVOCATION_ID"), fields.get("_SYSTEMD_INVOCATION_ID"))
        if invocation in ids and fields["MESSAGE"].startswith(message_start):
            return at
    raise AssertionError(f"no {message_start!r} in {name}")


def read_fixture(journals: Journals, name: str, **kwargs: str) -> UnitJournal:
    return read_unit_journal("restic-backup", files=[journals.file(name)], **kwargs)


def test_the_latest_invocation_is_read_when_it_succeeded(journals: Journals) -> None:
    journal = read_fixture(journals, "restic-backup-fail-then-success")
    assert journal.unit == UNIT
    assert journal.invocation_id == SECOND
    assert journal.result == "success"
    assert journal.exit_code is None  # a successful exit is logged at debug level only
    [group] = parse_groups(journal.lines, source=UNIT)
    output = group.output
    assert output.fatal is None
    assert output.backup is not None
    assert output.backup.snapshot_id == "45fbd684"
    summary = output.backup.summary
    assert summary is not None
    assert (summary.files_new, summary.dirs_new, summary.processed_files) == (17, 5, 17)
    assert summary.added_bytes == round(5.661 * 1024**2)
    assert output.forget is not None
    assert (output.forget.kept_snapshots, output.forget.removed_snapshots) == (8, 1)
    assert output.prune is not None
    assert output.prune.remaining_blobs == 108


def test_a_successful_run_has_its_steps_named_by_command_in_order(journals: Journals) -> None:
    name = "restic-backup-fail-then-success"
    steps = read_fixture(journals, name).steps
    assert [(s.name, s.command, s.exit_status) for s in steps] == [
        ("backup-cleanup", "backup-cleanup", None),
        ("restic", "restic", None),
        ("restic#2", "restic", None),
        ("backup-report-status", "backup-report-status", None),
    ]
    # The first command was forked as systemd logged "Starting …"; the last one's exit
    # made it log "Deactivated successfully."; in between, first and last lines.
    assert steps[0].started_at == time_of(name, SECOND, "Starting ")
    assert steps[1].started_at == time_of(name, SECOND, "no parent snapshot found")
    assert steps[1].ended_at == time_of(name, SECOND, "snapshot 45fbd684 saved")
    assert steps[2].started_at == time_of(name, SECOND, "Applying Policy")
    assert steps[2].ended_at == time_of(name, SECOND, "done")
    assert steps[3].ended_at == time_of(name, SECOND, f"{UNIT}: Deactivated successfully.")
    for step, following in itertools.pairwise(steps):
        assert step.started_at <= step.ended_at <= following.started_at


def test_the_shipped_examples_three_restic_steps_are_three_named_steps(
    journals: Journals,
) -> None:
    # examples/systemd/restic-backup.service, read by its own ExecStopPost=.
    name = "restic-backup-example-stop-post"
    journal = read_fixture(journals, name)
    assert journal.invocation_id == SECOND
    assert (journal.result, journal.exit_code) == (None, None)
    assert [(s.name, s.command) for s in journal.steps] == [
        ("restic", "restic"),
        ("restic#2", "restic"),
        ("restic#3", "restic"),
    ]
    assert journal.steps[0].started_at == time_of(name, SECOND, "Starting ")
    assert journal.steps[1].started_at == time_of(name, SECOND, "no parent snapshot found")
    assert journal.steps[2].ended_at == time_of(name, SECOND, "done")
    [group] = parse_groups(journal.lines, source=UNIT)
    assert group.output.backup is not None
    assert group.output.forget is not None


def test_the_latest_invocation_is_read_when_it_failed(journals: Journals) -> None:
    name = "restic-backup-success-then-fail"
    journal = read_fixture(journals, name)
    assert journal.invocation_id == SECOND
    assert (journal.result, journal.exit_code) == ("exit-code", 1)
    lines = list(journal.lines)
    assert [number for number, _ in lines] == [1, 2, 3]
    [group] = parse_groups(lines, source=UNIT)
    assert group.output.fatal == "Fatal: wrong password or no key found"
    assert group.output.backup is None
    exited = time_of(name, SECOND, f"{UNIT}: Main process exited")
    assert [(s.name, s.command, s.exit_status) for s in journal.steps] == [
        ("backup-cleanup", "backup-cleanup", None),
        ("ExecStart", "restic", 1),
        ("ExecStopPost", "backup-report-status", None),
    ]
    assert journal.steps[1].ended_at == exited
    assert journal.steps[2].started_at == exited
    assert journal.steps[2].ended_at == time_of(name, SECOND, f"{UNIT}: Failed with result")


def test_an_older_invocation_is_read_by_its_id(journals: Journals) -> None:
    journal = read_fixture(journals, "restic-backup-fail-then-success", invocation_id=FIRST)
    assert journal.invocation_id == FIRST
    assert (journal.result, journal.exit_code) == ("exit-code", 1)
    assert [line for _, line in journal.lines][1] == "Fatal: wrong password or no key found"


def test_a_journal_directory_is_read_like_its_files(journals: Journals) -> None:
    name = "restic-backup-success-then-fail"
    journal = read_unit_journal(UNIT, directory=journals.directory(name))
    from_file = read_fixture(journals, name)
    assert (journal.invocation_id, journal.steps) == (from_file.invocation_id, from_file.steps)
    assert list(journal.lines) == list(from_file.lines)


def test_another_unit_in_the_same_journal_is_kept_apart(journals: Journals) -> None:
    journal = read_unit_journal(
        "restic-backup-usb", files=[journals.file("restic-backup-fail-then-success")]
    )
    assert journal.unit == "restic-backup-usb.service"
    assert journal.result == "exit-code"
    assert [line for _, line in journal.lines] == [
        "Fatal: unable to open config file: stat /mnt/usb/restic/config: no such file or directory"
    ]


def test_from_exec_stop_post_the_journal_has_no_result_yet_the_environment_has(
    journals: Journals,
) -> None:
    journal = read_fixture(journals, "restic-backup-running-stop-post")
    assert journal.invocation_id == SECOND
    assert (journal.result, journal.exit_code) == (None, 1)
    assert journal.steps[-1].name == "ExecStopPost"
    environ = {"SERVICE_RESULT": "exit-code", "EXIT_CODE": "exited", "EXIT_STATUS": "1"}
    assert outcome_from_environment(environ) == ("exit-code", 1)


def test_a_unit_without_entries_is_an_input_error_naming_it(journals: Journals) -> None:
    with pytest.raises(InputError) as caught:
        read_unit_journal("nightly", files=[journals.file("restic-backup-fail-then-success")])
    message = str(caught.value)
    assert "nightly.service" in message
    assert "no journal entries" in message
    assert "\n" not in message


def test_an_unknown_invocation_is_an_input_error(journals: Journals) -> None:
    with pytest.raises(InputError, match=r"restic-backup\.service.*no journal entries"):
        read_fixture(journals, "restic-backup-fail-then-success", invocation_id="f" * 32)


def test_a_malformed_invocation_id_is_a_usage_error(journals: Journals) -> None:
    with pytest.raises(UsageError, match="invocation ID"):
        read_fixture(journals, "restic-backup-fail-then-success", invocation_id="latest")


def test_missing_journalctl_is_an_unreadable_input(tmp_path: Path) -> None:
    with pytest.raises(InputUnreadable, match=r"restic-backup\.service.*cannot run"):
        read_unit_journal(UNIT, journalctl=str(tmp_path / "journalctl"))


def test_a_missing_journal_file_is_an_unreadable_input(tmp_path: Path) -> None:
    require_binary("journalctl")
    with pytest.raises(InputUnreadable, match=r"restic-backup\.service: journalctl failed: "):
        read_unit_journal(UNIT, files=[str(tmp_path / "none.journal")])


def test_a_corrupt_journal_file_is_an_unreadable_input(tmp_path: Path) -> None:
    require_binary("journalctl")
    corrupt = tmp_path / "corrupt.journal"
    corrupt.write_bytes(b"LPKSHHRH" + bytes(300))
    with pytest.raises(InputUnreadable, match="journalctl failed"):
        read_unit_journal(UNIT, files=[str(corrupt)])


def test_an_empty_unit_name_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unit"):
        read_unit_journal("  ")
