"""A unit's journal, as entries: output lines, steps, result; and the ExecStopPost environment.

Entries are built the way ``journalctl -o json`` prints them (every value a
string); the export fixtures in ``tests/fixtures/journal`` are also fed in
directly, so the pure reader is checked without journalctl (the integration
test reads the same fixtures through the real journalctl).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pushrestic.errors import InputError
from pushrestic.parsers import parse_groups
from pushrestic.parsers.journal import (
    MESSAGE_UNIT_FAILED,
    MESSAGE_UNIT_FAILURE_RESULT,
    MESSAGE_UNIT_PROCESS_EXIT,
    MESSAGE_UNIT_STARTED,
    MESSAGE_UNIT_STARTING,
    MESSAGE_UNIT_SUCCESS,
    InvocationReader,
    Step,
    command_name,
    entry_invocation_id,
    entry_time,
    field_text,
    latest_invocation_id,
    message_lines,
    normalize_invocation_id,
    outcome_from_environment,
    shell_exit_status,
)
from tests.conftest import FIXTURES

UNIT = "backup.service"
INV = "0123456789abcdef0123456789abcdef"
OTHER_INV = "fedcba9876543210fedcba9876543210"
INIT_SCOPE_INV = "99999999999999999999999999999999"
T0 = 1_700_000_000.0
JOURNAL_FIXTURES = FIXTURES / "journal"

Entry = dict[str, Any]


def numbered_output(entries: Iterable[Entry], invocation_id: str) -> Iterator[tuple[int, str]]:
    """The invocation's output lines, numbered from 1, as pushrestic.sources.journalctl reads
    them: each entry through InvocationReader, its message split into lines."""
    reader = InvocationReader(invocation_id)
    number = 0
    for entry in entries:
        text = reader.feed(entry)
        if text is None:
            continue
        for line in message_lines(text):
            number += 1
            yield number, line


def stamp(seconds: float) -> str:
    return str(round((T0 + seconds) * 1_000_000))


def out(seconds: float, pid: int, comm: str, message: Any, **extra: Any) -> Entry:
    """A line the unit's process ``pid`` wrote to its standard output."""
    entry: Entry = {
        "__REALTIME_TIMESTAMP": stamp(seconds),
        "_TRANSPORT": "stdout",
        "_PID": str(pid),
        "_COMM": comm,
        "SYSLOG_IDENTIFIER": comm,
        "_SYSTEMD_UNIT": UNIT,
        "_SYSTEMD_INVOCATION_ID": INV,
        "_STREAM_ID": f"{pid:032x}",
        "MESSAGE": message,
    }
    entry.update(extra)
    return entry


def pid1(seconds: float, message: str, **extra: Any) -> Entry:
    """systemd's own message about the unit (PID 1 runs in init.scope, with its own ID)."""
    entry: Entry = {
        "__REALTIME_TIMESTAMP": stamp(seconds),
        "_TRANSPORT": "journal",
        "_PID": "1",
        "_COMM": "systemd",
        "_SYSTEMD_UNIT": "init.scope",
        "_SYSTEMD_INVOCATION_ID": INIT_SCOPE_INV,
        "UNIT": UNIT,
        "INVOCATION_ID": INV,
        "MESSAGE": message,
    }
    entry.update(extra)
    return entry


def starting(seconds: float) -> Entry:
    return pid1(
        seconds,
        f"Starting {UNIT} - Backup...",
        MESSAGE_ID=MESSAGE_UNIT_STARTING,
        JOB_TYPE="start",
    )


def exited(
    seconds: float, command: str, code: str, status: int, name: str, *, success: bool = False
) -> Entry:
    who = "Main" if command == "ExecStart" else "Control"
    suffix = " (success)" if success else ""
    return pid1(
        seconds,
        f"{UNIT}: {who} process exited, code={code}, status={status}/{name}{suffix}",
        MESSAGE_ID=MESSAGE_UNIT_PROCESS_EXIT,
        EXIT_CODE=code,
        EXIT_STATUS=str(status),
        COMMAND=command,
    )


def failed_with(seconds: float, result: str) -> Entry:
    return pid1(
        seconds,
        f"{UNIT}: Failed with result '{result}'.",
        MESSAGE_ID=MESSAGE_UNIT_FAILURE_RESULT,
        UNIT_RESULT=result,
    )


def deactivated(seconds: float) -> Entry:
    return pid1(seconds, f"{UNIT}: Deactivated successfully.", MESSAGE_ID=MESSAGE_UNIT_SUCCESS)


def job_done(seconds: float, *, ok: bool) -> Entry:
    if ok:
        return pid1(
            seconds,
            f"Finished {UNIT} - Backup.",
            MESSAGE_ID=MESSAGE_UNIT_STARTED,
            JOB_RESULT="done",
        )
    return pid1(
        seconds,
        f"Failed to start {UNIT} - Backup.",
        MESSAGE_ID=MESSAGE_UNIT_FAILED,
        JOB_RESULT="failed",
    )


def read(entries: list[Entry]) -> InvocationReader:
    reader = InvocationReader(INV)
    for entry in entries:
        reader.feed(entry)
    return reader


def read_export(path: Path) -> list[Entry]:
    """Entries of a journal export file (text fields only), as journalctl's JSON has them."""
    entries: list[Entry] = []
    current: Entry = {}
    for line in path.read_text(encoding="utf-8").split("\n"):
        if not line:
            if current:
                entries.append(current)
            current = {}
            continue
        name, _, value = line.partition("=")
        current[name] = value
    if current:
        entries.append(current)
    return entries


# Fields, IDs and times.


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("text", "text"),
        ([104, 105, 0, 255], "hi\x00\ufffd"),  # binary, or not UTF-8: an array of bytes
        (["first", "second"], "first"),  # a field that occurs twice
        ([[111, 107], "x"], "ok"),
        ([], ""),
        (None, None),  # too large without --all
        (7, "7"),
    ],
)
def test_field_text_reads_every_shape_journalctl_prints(value: Any, expected: str | None) -> None:
    assert field_text({"F": value}, "F") == expected


def test_field_text_of_a_missing_field_is_none() -> None:
    assert field_text({}, "MESSAGE") is None


def test_entry_time_is_unix_seconds_from_microseconds() -> None:
    assert entry_time({"__REALTIME_TIMESTAMP": "1700000000123456"}) == 1700000000.123456


@pytest.mark.parametrize("value", [None, "", "12.5", "-3", "١٢٣"])
def test_entry_time_refuses_a_missing_or_malformed_timestamp(value: str | None) -> None:
    entry = {} if value is None else {"__REALTIME_TIMESTAMP": value}
    with pytest.raises(InputError, match="__REALTIME_TIMESTAMP"):
        entry_time(entry)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (INV, INV),
        ("01234567-89AB-CDEF-0123-456789ABCDEF", INV),
        (" " + INV + "\n", INV),
        ("0123", None),
        ("g" * 32, None),
        ("", None),
    ],
)
def test_invocation_ids_are_normalized_or_refused(value: str, expected: str | None) -> None:
    assert normalize_invocation_id(value) == expected


def test_message_lines_split_a_native_message_but_keep_empty_and_carriage_returns() -> None:
    assert message_lines("a\nb\n") == ["a", "b"]
    assert message_lines("") == [""]
    assert message_lines("50%\r") == ["50%\r"]


# Finding the latest invocation.


def test_latest_invocation_skips_entries_that_name_none() -> None:
    newest_first: list[Entry] = [
        # a unit file warning after a reload: UNIT= but no invocation
        {"_PID": "1", "UNIT": UNIT, "_SYSTEMD_UNIT": "init.scope"},
        out(5, 300, "restic", "done", _SYSTEMD_INVOCATION_ID=OTHER_INV),
        pid1(1, "Starting"),
    ]
    assert latest_invocation_id(newest_first, UNIT) == OTHER_INV


def test_latest_invocation_never_takes_pid1s_own_invocation() -> None:
    message = pid1(1, "Starting")
    del message["INVOCATION_ID"]
    assert entry_invocation_id(message, UNIT) is None
    assert latest_invocation_id([message], UNIT) is None


def test_latest_invocation_takes_a_user_managers_invocation_field() -> None:
    assert entry_invocation_id({"USER_UNIT": UNIT, "USER_INVOCATION_ID": INV}, UNIT) == INV


def test_latest_invocation_of_a_unit_pattern_matches_the_processes_unit() -> None:
    assert entry_invocation_id(out(1, 300, "restic", "x"), "backup*.service") == INV


def test_latest_invocation_of_no_entries_is_none() -> None:
    assert latest_invocation_id([], UNIT) is None


# A successful oneshot run: names by command, times from systemd's boundary messages.


def successful_run() -> list[Entry]:
    return [
        starting(0.0),
        out(0.010, 101, "backup-cleanup", "removed 0 stale files"),
        out(2.000, 102, "restic", "no parent snapshot found, will read all files"),
        out(2.500, 102, "restic", "snapshot 45fbd684 saved"),
        out(3.000, 103, "restic", "loading indexes..."),
        out(4.000, 103, "restic", "done"),
        deactivated(4.100),
        job_done(4.101, ok=True),
    ]


def test_a_successful_run_names_steps_by_command_with_boundary_times() -> None:
    reader = read(successful_run())
    assert reader.result == "success"
    assert reader.exit_code is None  # systemd logs a successful exit at debug level only
    assert reader.steps() == (
        # forked right before "Starting …": started then
        Step("backup-cleanup", "backup-cleanup", T0, T0 + 0.010, None),
        Step("restic", "restic", T0 + 2.0, T0 + 2.5, None),
        # the last process's exit makes systemd log "Deactivated successfully." at once;
        # a name already taken is numbered, so that each step is a series of its own
        Step("restic#2", "restic", T0 + 3.0, T0 + 4.1, None),
    )


def test_output_lines_are_the_processes_messages_only_numbered_from_one() -> None:
    lines = list(numbered_output(successful_run(), INV))
    assert lines == [
        (1, "removed 0 stale files"),
        (2, "no parent snapshot found, will read all files"),
        (3, "snapshot 45fbd684 saved"),
        (4, "loading indexes..."),
        (5, "done"),
    ]


def test_entries_of_other_invocations_and_units_are_ignored() -> None:
    entries = [
        starting(0.0),
        out(0.5, 900, "restic", "other run", _SYSTEMD_INVOCATION_ID=OTHER_INV),
        pid1(0.6, "other: Deactivated successfully.", INVOCATION_ID=OTHER_INV),
        {"__REALTIME_TIMESTAMP": stamp(0.7), "_TRANSPORT": "kernel", "MESSAGE": "usb 2-1"},
        out(1.0, 101, "restic", "mine"),
    ]
    reader = read(entries)
    assert list(numbered_output(entries, INV)) == [(1, "mine")]
    assert reader.entries == 2
    assert reader.result is None
    # entries of other invocations are not between "Starting …" and this one's first line
    assert [step.started_at for step in reader.steps()] == [T0]


def test_lines_logged_without_a_stream_belong_to_the_step_before_them() -> None:
    entries = [
        out(0.1, 101, "backup.sh", "starting", _STREAM_ID="a" * 32),
        out(0.2, 150, "logger", "from logger", _TRANSPORT="syslog", _STREAM_ID=None),
        out(0.3, 151, "logger", "again", _TRANSPORT="syslog", _STREAM_ID=None),
        out(0.4, 101, "backup.sh", "done", _STREAM_ID="a" * 32),
    ]
    steps = read(entries).steps()
    assert [(s.command, s.started_at, s.ended_at) for s in steps] == [
        ("backup.sh", T0 + 0.1, T0 + 0.4)
    ]


def test_binary_multi_line_and_empty_messages_become_lines() -> None:
    entries = [
        out(0.1, 101, "restic", list(b"caf\xc3\xa9 \x1b[2K50%")),
        out(0.2, 101, "restic", ""),
        out(0.3, 101, "restic", None),
        out(0.4, 101, "script", "one\ntwo", _TRANSPORT="journal", _STREAM_ID=None),
    ]
    del entries[3]["_STREAM_ID"]
    assert list(numbered_output(entries, INV)) == [
        (1, "café \x1b[2K50%"),
        (2, ""),
        (3, ""),
        (4, "one"),
        (5, "two"),
    ]


# Failures: the exit message names its step, and what follows is ExecStopPost=.


def test_a_failed_main_process_names_its_step_and_the_stop_post_after_it() -> None:
    entries = [
        starting(0.0),
        out(0.010, 101, "backup-cleanup", "removed 2 stale files"),
        out(1.200, 102, "restic", "Fatal: wrong password or no key found"),
        exited(1.230, "ExecStart", "exited", 1, "FAILURE"),
        out(1.260, 103, "backup-report-s", "report sent", SYSLOG_IDENTIFIER="backup-report-status"),
        failed_with(1.300, "exit-code"),
        job_done(1.301, ok=False),
    ]
    reader = read(entries)
    assert reader.result == "exit-code"
    assert reader.exit_code == 1
    assert reader.steps() == (
        Step("backup-cleanup", "backup-cleanup", T0, T0 + 0.010, None),
        Step("ExecStart", "restic", T0 + 1.200, T0 + 1.230, 1),
        Step("ExecStopPost", "backup-report-status", T0 + 1.230, T0 + 1.300, None),
    )


def test_a_start_timeout_kill_gives_the_shells_exit_code_and_timeout() -> None:
    entries = [
        starting(0.0),
        out(5.0, 102, "restic", "using parent snapshot 45fbd684"),
        pid1(3600.0, f"{UNIT}: start operation timed out. Terminating."),
        exited(3600.2, "ExecStart", "killed", 15, "TERM"),
        failed_with(3600.3, "timeout"),
    ]
    reader = read(entries)
    assert reader.result == "timeout"
    assert reader.exit_code == 143
    assert reader.steps() == (Step("ExecStart", "restic", T0, T0 + 3600.2, 143),)


def test_a_failed_start_pre_is_not_the_main_process() -> None:
    entries = [
        starting(0.0),
        out(0.1, 101, "restic", "Fatal: unable to create lock in backend"),
        exited(0.2, "ExecStartPre", "exited", 1, "FAILURE"),
        out(0.3, 103, "notify", "sent"),
        failed_with(0.4, "exit-code"),
    ]
    reader = read(entries)
    assert reader.exit_code is None
    assert [(s.name, s.exit_status) for s in reader.steps()] == [
        ("ExecStartPre", 1),
        ("ExecStopPost", None),
    ]


def test_a_failed_exec_is_a_step_of_its_own_and_not_output() -> None:
    entries = [
        starting(0.0),
        out(0.1, 101, "backup-cleanup", "removed 0 stale files"),
        # logged by the forked child itself, before exec: in the unit's control group
        pid1(
            0.2,
            f"{UNIT}: Failed at step EXEC spawning /usr/bin/restic: No such file or directory",
            _PID="102",
            _COMM="(restic)",
            _SYSTEMD_UNIT=UNIT,
            _SYSTEMD_INVOCATION_ID=INV,
            EXECUTABLE="/usr/bin/restic",
            MESSAGE_ID="641257651c1b4ec9a8624d7a40a9e1e7",
        ),
        exited(0.21, "ExecStart", "exited", 203, "EXEC"),
        failed_with(0.3, "exit-code"),
    ]
    reader = read(entries)
    assert list(numbered_output(entries, INV)) == [(1, "removed 0 stale files")]
    assert reader.exit_code == 203
    assert reader.steps()[1] == Step("ExecStart", "restic", T0 + 0.2, T0 + 0.21, 203)


def test_messages_without_their_fields_are_read_from_the_text() -> None:
    entries = [
        pid1(0.0, f"Starting {UNIT} - Backup..."),
        out(0.1, 102, "restic", "using parent snapshot 45fbd684"),
        pid1(0.5, f"{UNIT}: Main process exited, code=dumped, status=6/ABRT"),
        pid1(0.6, f"{UNIT}: Failed with result 'core-dump'."),
    ]
    reader = read(entries)
    assert reader.result == "core-dump"
    assert reader.exit_code == 134
    assert reader.steps() == (Step("ExecStart", "restic", T0, T0 + 0.5, 134),)


def test_deactivated_successfully_text_gives_success() -> None:
    reader = read(
        [out(0.1, 101, "restic", "done"), pid1(0.2, f"{UNIT}: Deactivated successfully.")]
    )
    assert reader.result == "success"
    assert reader.steps()[0].ended_at == T0 + 0.2


def test_with_debug_logging_every_step_is_named_by_its_exit() -> None:
    entries = [
        starting(0.0),
        out(0.1, 101, "backup-cleanup", "removed 0 stale files"),
        exited(0.2, "ExecStartPre", "exited", 0, "SUCCESS", success=True),
        out(0.3, 102, "restic", "snapshot 45fbd684 saved"),
        exited(0.4, "ExecStart", "exited", 0, "SUCCESS", success=True),
        # a command that printed nothing: its exit belongs to no step
        exited(0.5, "ExecStartPost", "exited", 0, "SUCCESS", success=True),
        out(0.6, 104, "restic", "done"),
        exited(0.7, "ExecStartPost", "exited", 0, "SUCCESS", success=True),
        deactivated(0.8),
    ]
    reader = read(entries)
    assert reader.exit_code == 0
    assert reader.steps() == (
        Step("ExecStartPre", "backup-cleanup", T0, T0 + 0.2, 0),
        Step("ExecStart", "restic", T0 + 0.2, T0 + 0.4, 0),
        Step("ExecStartPost", "restic", T0 + 0.5, T0 + 0.7, 0),
    )


def test_a_step_between_two_of_the_same_kind_is_of_that_kind() -> None:
    entries = [
        out(0.1, 101, "a", "a"),
        exited(0.2, "ExecStartPre", "exited", 0, "SUCCESS", success=True),
        out(0.3, 102, "b", "b"),
        out(0.4, 103, "c", "c"),
        exited(0.5, "ExecStartPre", "exited", 0, "SUCCESS", success=True),
    ]
    assert [step.name for step in read(entries).steps()] == [
        "ExecStartPre",
        "ExecStartPre#2",
        "ExecStartPre#3",
    ]


def test_steps_of_the_same_name_are_numbered_in_order_of_their_first_line() -> None:
    entries = [
        starting(0.0),
        out(0.1, 101, "restic", "successfully removed locks"),
        out(0.2, 102, "restic", "snapshot 45fbd684 saved"),
        exited(0.3, "ExecStart", "exited", 0, "SUCCESS", success=True),
        out(0.4, 103, "restic", "loading indexes..."),
        out(0.5, 104, "report", "sent"),
        exited(0.6, "ExecStartPost", "exited", 0, "SUCCESS", success=True),
        out(0.7, 105, "notify", "sent"),
        exited(0.8, "ExecStartPost", "exited", 0, "SUCCESS", success=True),
    ]
    steps = read(entries).steps()
    assert [(step.name, step.command) for step in steps] == [
        ("restic", "restic"),
        ("ExecStart", "restic"),
        ("restic#2", "restic"),
        ("ExecStartPost", "report"),
        ("ExecStartPost#2", "notify"),
    ]


def test_a_numbered_name_never_takes_a_name_a_command_already_has() -> None:
    entries = [
        out(0.1, 101, "a", "first"),
        out(0.2, 102, "a#2", "second"),
        out(0.3, 103, "a", "third"),
        out(0.4, 104, "a#2", "fourth"),
    ]
    names = [step.name for step in read(entries).steps()]
    assert names == ["a", "a#2", "a#3", "a#2#2"]
    assert len(set(names)) == len(names)


def test_a_daemon_failing_after_it_started_does_not_imply_stop_post() -> None:
    entries = [
        starting(0.0),
        out(0.1, 102, "daemon", "listening"),
        job_done(0.2, ok=True),
        exited(9.0, "ExecStart", "exited", 1, "FAILURE"),
        out(9.1, 103, "stopper", "stopping"),  # ExecStop= or ExecStopPost=: unknown
    ]
    assert [step.name for step in read(entries).steps()] == ["ExecStart", "stopper"]


def test_exit_of_a_command_that_printed_nothing_goes_to_no_step_already_ended() -> None:
    entries = [
        out(0.1, 101, "a", "a"),
        exited(0.2, "ExecStartPre", "exited", 0, "SUCCESS", success=True),
        exited(0.3, "ExecStart", "exited", 2, "INVALIDARGUMENT"),
        out(0.4, 103, "notify", "sent"),
    ]
    reader = read(entries)
    assert reader.exit_code == 2
    assert [(s.name, s.exit_status) for s in reader.steps()] == [
        ("ExecStartPre", 0),
        ("ExecStopPost", None),
    ]


def test_an_exit_of_an_earlier_kind_is_not_given_to_a_later_step() -> None:
    entries = [
        out(0.1, 101, "post", "post"),
        exited(0.2, "ExecStartPost", "exited", 0, "SUCCESS", success=True),
        out(0.3, 102, "late", "late"),
        exited(0.4, "ExecStartPre", "exited", 1, "FAILURE"),
    ]
    assert [(s.name, s.exit_status) for s in read(entries).steps()] == [
        ("ExecStartPost", 0),
        ("late", None),
    ]


def test_a_malformed_exit_status_in_systemds_message_is_an_input_error() -> None:
    message = exited(0.2, "ExecStart", "exited", 1, "FAILURE")
    message["EXIT_STATUS"] = "lots"
    with pytest.raises(InputError, match="exit message"):
        read([message])


def test_an_invocation_reader_needs_an_invocation_id() -> None:
    with pytest.raises(ValueError, match="invocation"):
        InvocationReader("backup.service")


# Command names.


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"_COMM": "restic", "SYSLOG_IDENTIFIER": "restic"}, "restic"),
        ({"_COMM": "restic", "SYSLOG_IDENTIFIER": "nightly-backup"}, "restic"),  # SyslogIdentifier=
        (
            {"_COMM": "backup-report-s", "SYSLOG_IDENTIFIER": "backup-report-status"},
            "backup-report-status",
        ),
        ({"_COMM": "(restic)"}, "restic"),  # before exec
        ({"_COMM": "(backup-report-"}, "backup-report-"),
        ({"SYSLOG_IDENTIFIER": "restic"}, "restic"),  # the process ended before journald looked
        ({"_CMDLINE": "/usr/bin/restic backup /data"}, "restic"),
        ({}, ""),
    ],
)
def test_command_name(fields: Entry, expected: str) -> None:
    assert command_name(fields) == expected


# The environment systemd gives ExecStopPost=.


def env(result: str, code: str, status: str) -> dict[str, str]:
    return {"SERVICE_RESULT": result, "EXIT_CODE": code, "EXIT_STATUS": status}


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (env("success", "exited", "0"), ("success", 0)),
        (env("exit-code", "exited", "3"), ("exit-code", 3)),
        (env("signal", "killed", "TERM"), ("signal", 143)),
        (env("timeout", "killed", "KILL"), ("timeout", 137)),
        (env("core-dump", "dumped", "SEGV"), ("core-dump", 139)),
        (env("signal", "killed", "SIGINT"), ("signal", 130)),
        (env("signal", "killed", "9"), ("signal", 137)),
        ({"SERVICE_RESULT": "protocol"}, ("protocol", None)),  # the main process never ran
        ({}, (None, None)),  # not run by systemd
        (env(" ", "", ""), (None, None)),
    ],
)
def test_outcome_from_environment(
    environ: dict[str, str], expected: tuple[str | None, int | None]
) -> None:
    assert outcome_from_environment(environ) == expected


def test_outcome_from_environment_of_a_realtime_signal() -> None:
    result, code = outcome_from_environment(
        {"SERVICE_RESULT": "signal", "EXIT_CODE": "killed", "EXIT_STATUS": "RTMIN+3"}
    )
    assert result == "signal"
    assert code is not None
    assert code > 128 + 31


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"EXIT_CODE": "exited", "EXIT_STATUS": "FAILURE"}, "EXIT_STATUS"),
        ({"EXIT_CODE": "killed", "EXIT_STATUS": "NOSUCHSIG"}, "EXIT_STATUS"),
        ({"EXIT_CODE": "exited", "EXIT_STATUS": "256"}, "EXIT_STATUS"),
        ({"EXIT_CODE": "killed", "EXIT_STATUS": "0"}, "EXIT_STATUS"),
        ({"EXIT_CODE": "exited", "EXIT_STATUS": "TERM"}, "EXIT_STATUS"),
        ({"EXIT_CODE": "vanished", "EXIT_STATUS": "1"}, "EXIT_CODE"),
    ],
)
def test_outcome_from_environment_refuses_values_that_do_not_parse(
    environ: dict[str, str], variable: str
) -> None:
    with pytest.raises(InputError, match=variable):
        outcome_from_environment(environ)


def test_shell_exit_status_without_a_status_is_unknown() -> None:
    assert shell_exit_status("exited", None) is None


# The export fixtures, fed in without journalctl.


def fixture_invocation(name: str, invocation: str) -> InvocationReader:
    reader = InvocationReader(invocation)
    for entry in read_export(JOURNAL_FIXTURES / name):
        reader.feed(entry)
    return reader


def test_fixture_success_run_parses_to_the_restic_samples_values() -> None:
    name = "restic-backup-fail-then-success.export"
    entries = read_export(JOURNAL_FIXTURES / name)
    newest_first = list(reversed(entries))
    invocation = latest_invocation_id(
        (
            e
            for e in newest_first
            if "restic-backup.service" in (e.get("UNIT"), e.get("_SYSTEMD_UNIT"))
        ),
        "restic-backup.service",
    )
    assert invocation == "7e5f3a2b1c0d4e9f8a7b6c5d4e3f2a10"
    [group] = parse_groups(numbered_output(entries, invocation))
    backup = group.output.backup
    assert backup is not None
    assert backup.summary is not None
    assert backup.snapshot_id == "45fbd684"
    assert backup.summary.files_new == 17
    assert group.output.forget is not None
    assert group.output.prune is not None
    reader = fixture_invocation(name, invocation)
    assert reader.result == "success"
    assert [s.command for s in reader.steps()] == [
        "backup-cleanup",
        "restic",
        "restic",
        "backup-report-status",
    ]


def test_fixture_failed_run_names_main_process_and_stop_post() -> None:
    reader = fixture_invocation(
        "restic-backup-success-then-fail.export", "7e5f3a2b1c0d4e9f8a7b6c5d4e3f2a10"
    )
    assert (reader.result, reader.exit_code) == ("exit-code", 1)
    assert [s.name for s in reader.steps()] == ["backup-cleanup", "ExecStart", "ExecStopPost"]


def test_fixture_of_the_shipped_example_has_three_restic_steps_with_distinct_names() -> None:
    # examples/systemd/restic-backup.service: restic unlock, backup, forget --prune, as
    # its ExecStopPost= (pushrestic journal) reads the journal: no result logged yet.
    reader = fixture_invocation(
        "restic-backup-example-stop-post.export", "7e5f3a2b1c0d4e9f8a7b6c5d4e3f2a10"
    )
    assert (reader.result, reader.exit_code) == (None, None)
    assert [(s.name, s.command) for s in reader.steps()] == [
        ("restic", "restic"),
        ("restic#2", "restic"),
        ("restic#3", "restic"),
    ]
