"""run_command: output passed through unchanged and at once, parsed as it streams in constant
memory, the shell's exit codes, signals forwarded exactly once.

Small real commands (``sh``, ``printf``, ``python3 -c``). What needs signals sent
to pushrestic itself runs :data:`WRAPPER` (run_command in a child python)
through :func:`start_wrapper`; every wait is bounded.
"""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pushrestic.constants import MAX_LINE
from pushrestic.errors import InputError
from pushrestic.parsers import parse_groups
from pushrestic.sources import command as runner
from pushrestic.sources.command import Wrapped, run_command
from pushrestic.sources.stream import LineReader
from tests.conftest import SAMPLES
from tests.integration.commands import (
    AUTORESTIC_LOG,
    SIGNAL_COUNTER,
    WAIT,
    Terminal,
    finish_on_terminal,
    finish_wrapper,
    python,
    read_terminal,
    read_until,
    start_wrapper,
    wrap,
    wrap_on_terminal,
    wrapper_environment,
)


@pytest.fixture
def restore_sighup() -> Iterator[None]:
    previous = signal.getsignal(signal.SIGHUP)
    yield
    signal.signal(signal.SIGHUP, previous)


# -- pass-through -------------------------------------------------------------


def test_output_passes_through_unchanged_and_a_last_line_without_newline_is_parsed(
    tmp_path: Path,
) -> None:
    command = (
        "printf 'Files:           3 new,     0 changed,     0 unmodified\\n'; "
        "printf 'snap'; printf 'shot 0123abcd'; printf ' saved'"
    )
    wrapped, out, err = wrap(tmp_path, ["sh", "-c", command])
    assert out == (
        b"Files:           3 new,     0 changed,     0 unmodified\nsnapshot 0123abcd saved"
    )
    assert err == b""
    assert wrapped.exit_code == 0
    assert wrapped.parse_error is None
    (group,) = wrapped.groups
    assert group.output.backup is not None
    assert group.output.backup.snapshot_id == "0123abcd"
    assert group.output.backup.summary is not None
    assert group.output.backup.summary.files_new == 3
    assert group.output.lines == 2


def test_each_stream_keeps_its_own_unfinished_line_when_they_interleave(tmp_path: Path) -> None:
    command = (
        "printf 'Files:   1 new,  '; printf 'open repository\\n' >&2; "
        "printf '0 changed,  2 unmodified\\nsnapshot 0123abcd'; printf 'Warning: at least ' >&2; "
        "printf ' saved\\n'; printf 'one source file could not be read\\n' >&2; exit 3"
    )
    wrapped, out, err = wrap(tmp_path, ["sh", "-c", command])
    assert out == b"Files:   1 new,  0 changed,  2 unmodified\nsnapshot 0123abcd saved\n"
    assert err == b"open repository\nWarning: at least one source file could not be read\n"
    assert wrapped.exit_code == 3
    (group,) = wrapped.groups
    backup = group.output.backup
    assert backup is not None
    assert backup.summary is not None
    assert (backup.summary.files_new, backup.summary.files_unmodified) == (1, 2)
    assert backup.snapshot_id == "0123abcd"
    assert backup.unreadable_warning
    assert group.output.lines == 4


def test_binary_output_passes_through_byte_for_byte(tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000 + b"\r\n\x00\xff\xfe no newline at the end"
    source = tmp_path / "binary"
    source.write_bytes(data)
    wrapped, out, err = wrap(tmp_path, ["cat", str(source)])
    assert out == data
    assert err == b""
    assert wrapped.exit_code == 0
    assert isinstance(wrapped.parse_error, InputError)  # not restic's output
    assert wrapped.groups == ()


def test_a_prompt_shows_before_the_command_reads_its_answer(tmp_path: Path) -> None:
    result = tmp_path / "result.json"
    command = ["sh", "-c", 'printf "enter password: "; read answer; echo "got $answer"']
    proc = start_wrapper(result, command, stdin=subprocess.PIPE)
    shown = read_until(proc, b"enter password: ")
    facts, rest = finish_wrapper(proc, result, answer=b"secret\n")
    assert shown + rest == b"enter password: got secret\n"
    assert facts["exit_code"] == 0


def test_a_closed_destination_stops_the_pass_through_not_the_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        wrapped = run_command(
            ["sh", "-c", "echo 'snapshot 0123abcd saved'; echo done >&2; exit 3"],
            stdout=write_end,
            stderr=os.open(os.devnull, os.O_WRONLY),
        )
    finally:
        os.close(write_end)
    assert wrapped.exit_code == 3
    (group,) = wrapped.groups
    assert group.output.backup is not None
    assert group.output.backup.snapshot_id == "0123abcd"
    assert "cannot pass the command's stdout through" in caplog.text


def test_output_printed_just_after_the_command_exits_is_not_lost(tmp_path: Path) -> None:
    command = "(sleep 0.3; echo 'snapshot 0123abcd saved') & echo started"
    wrapped, out, _ = wrap(tmp_path, ["sh", "-c", command])
    assert out == b"started\nsnapshot 0123abcd saved\n"
    (group,) = wrapped.groups
    assert group.output.backup is not None
    assert group.output.backup.snapshot_id == "0123abcd"


def test_a_background_grandchild_holding_the_pipes_is_waited_for_a_bounded_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(runner, "DRAIN_SECONDS", 0.3)
    begin = time.monotonic()
    wrapped, out, _ = wrap(tmp_path, ["sh", "-c", "sleep 60 & echo $!"])
    try:
        assert time.monotonic() - begin < 10
        assert wrapped.exit_code == 0
        assert "output is still open" in caplog.text
    finally:
        os.kill(int(out), signal.SIGKILL)


# -- memory -------------------------------------------------------------------

FIFTY_MB = 50 * 1000 * 1000
# Prints FIFTY_MB bytes of restic-like lines (or one line), then a snapshot line.
_PRODUCER = r"""
import sys
size, kind = int(sys.argv[1]), sys.argv[2]
if kind == "lines":
    lines = (
        b'{"message_type":"status","percent_done":0.5,"total_files":19,"files_done":3}\n'
        b"[0:01] 10.00%  1 files 1.000 MiB, total 10 files 10.000 MiB, 0 errors\n"
        b"new       /data/some/file, saved in 0.002s (702 B added)\n"
        b"some line that is nobody's at all, but long enough to be counted once\n"
    )
    block = lines * (1_000_000 // len(lines))
else:
    block = b"x" * 1_000_000
out = sys.stdout.buffer
written = 0
while written + len(block) <= size:
    out.write(block)
    written += len(block)
out.write(b"y" * (size - written))
out.write(b"\nsnapshot 0123abcd saved\n")
"""


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["lines", "one-line"])
def test_fifty_megabytes_of_output_pass_through_in_bounded_memory(
    tmp_path: Path, kind: str
) -> None:
    result, passed = tmp_path / "result.json", tmp_path / "passed"
    proc = start_wrapper(
        result, [*python(_PRODUCER), str(FIFTY_MB), kind], stdout=str(passed), stderr=str(passed)
    )
    facts, _ = finish_wrapper(proc, result, timeout=120.0)
    assert facts["exit_code"] == 0
    assert passed.stat().st_size == FIFTY_MB + len(b"\nsnapshot 0123abcd saved\n")
    assert facts["parse_error"] is None
    (group,) = facts["groups"]
    assert group["output"]["backup"]["snapshot_id"] == "0123abcd"
    growth = facts["peak_rss"] - facts["rss_before"]
    assert growth < 16 * 1024 * 1024, f"peak memory grew by {growth / 1e6:.1f} MB"


# -- parsing ------------------------------------------------------------------


def test_restic_lines_and_exit_code_3_are_both_kept(tmp_path: Path) -> None:
    command = "\n".join(
        [
            "echo 'using parent snapshot 89abcdef'",
            "echo 'Files:           0 new,     1 changed,    18 unmodified'",
            "echo 'Dirs:            0 new,     2 changed,     4 unmodified'",
            "echo 'Added to the repository: 3.500 KiB (1.200 KiB stored)'",
            "echo 'processed 19 files, 1.026 MiB in 0:02'",
            "echo 'snapshot 0123abcd saved'",
            "echo 'Warning: at least one source file could not be read' >&2",
            "exit 3",
        ]
    )
    wrapped, _, _ = wrap(tmp_path, ["sh", "-c", command])
    assert wrapped.exit_code == 3
    assert wrapped.parse_error is None
    (group,) = wrapped.groups
    assert (group.location, group.backend, group.exit_code) == (None, None, None)
    backup = group.output.backup
    assert backup is not None
    assert backup.summary is not None
    assert backup.parent_snapshot_id == "89abcdef"
    assert backup.summary.files_changed == 1
    assert backup.summary.dirs_unmodified == 4
    assert backup.summary.added_bytes == 3584
    assert backup.summary.processed_files == 19
    assert backup.summary.duration_seconds == 2
    assert backup.snapshot_id == "0123abcd"
    assert backup.unreadable_warning


def test_the_parse_gives_what_parsing_the_passed_output_gives(tmp_path: Path) -> None:
    log = SAMPLES / "restic-0.12.1-backup-text-incremental.reconstructed.log"
    wrapped, out, _ = wrap(tmp_path, ["cat", str(log)])
    assert out == log.read_bytes()
    with log.open("rb") as stream:
        expected = parse_groups(LineReader(stream, "<cat>"), source="<cat>")
    assert list(wrapped.groups) == expected


def test_an_autorestic_log_is_recognized_by_its_lines(tmp_path: Path) -> None:
    wrapped, out, _ = wrap(tmp_path, ["cat", str(AUTORESTIC_LOG)])
    assert out == AUTORESTIC_LOG.read_bytes()
    with AUTORESTIC_LOG.open("rb") as stream:
        expected = parse_groups(LineReader(stream, "<cat>"), source="<cat>")
    assert len(expected) > 1
    assert list(wrapped.groups) == expected


def test_a_command_named_autorestic_is_parsed_as_autorestic(tmp_path: Path) -> None:
    script = tmp_path / "autorestic"
    # Restic's lines first: detected by its lines alone, this would be a restic log.
    script.write_text(
        "#!/bin/sh\necho 'snapshot 0123abcd saved'\nexec cat " + str(AUTORESTIC_LOG) + "\n"
    )
    script.chmod(0o755)
    wrapped, _, _ = wrap(tmp_path, [str(script)])
    assert wrapped.parse_error is None
    assert len(wrapped.groups) > 1
    assert all(group.location is not None for group in wrapped.groups)


def test_a_command_that_prints_nothing_gives_no_group_and_no_error(tmp_path: Path) -> None:
    wrapped, out, err = wrap(tmp_path, ["true"])
    assert (wrapped.exit_code, wrapped.groups, wrapped.parse_error) == (0, (), None)
    assert out == err == b""


def test_output_that_is_not_restics_is_a_parse_error(tmp_path: Path) -> None:
    wrapped, out, _ = wrap(tmp_path, ["echo", "hello"])
    assert out == b"hello\n"
    assert wrapped.groups == ()
    assert isinstance(wrapped.parse_error, InputError)
    assert "not restic output" in str(wrapped.parse_error)


def test_a_value_that_does_not_parse_stops_the_parsing_not_the_pass_through(
    tmp_path: Path,
) -> None:
    command = (
        'echo \'{"message_type":"summary","files_new":"many"}\'; '
        "echo 'snapshot 0123abcd saved'; echo after"
    )
    wrapped, out, _ = wrap(tmp_path, ["sh", "-c", command])
    assert out.endswith(b"snapshot 0123abcd saved\nafter\n")
    assert wrapped.groups == ()
    assert isinstance(wrapped.parse_error, InputError)
    assert wrapped.parse_error.line == 1


def test_a_line_longer_than_the_limit_is_passed_whole_and_parsed_cut(tmp_path: Path) -> None:
    size = 3 * MAX_LINE + 123
    code = (
        "import sys; out = sys.stdout.buffer; out.write(b'processed 1 files, ' + b'9' * "
        f"{size}); out.write(b'\\nsnapshot 0123abcd saved\\n')"
    )
    wrapped, out, _ = wrap(tmp_path, python(code))
    assert len(out) == len("processed 1 files, ") + size + len("\nsnapshot 0123abcd saved\n")
    (group,) = wrapped.groups
    assert group.output.backup is not None
    assert group.output.backup.snapshot_id == "0123abcd"
    assert group.output.lines == 2


def test_an_explicit_format_skips_the_detection(tmp_path: Path) -> None:
    wrapped, _, _ = wrap(tmp_path, ["cat", str(AUTORESTIC_LOG)], fmt="text")
    (group,) = wrapped.groups
    assert group.location is None


def test_the_parsers_are_not_imported_before_a_command_starts() -> None:
    """The command's start must not wait for them: run_command imports them after."""
    code = "import sys, pushrestic.sources.command; print(sorted(sys.modules))"
    done = subprocess.run(
        python(code), capture_output=True, text=True, env=wrapper_environment(), check=True
    )
    assert "pushrestic.parsers" not in done.stdout
    assert "pushrestic.model" not in done.stdout


def test_an_empty_command_or_an_unknown_format_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="no command"):
        run_command([])
    with pytest.raises(ValueError, match="unknown format"):
        run_command(["true"], fmt="yaml")


# -- exit codes ---------------------------------------------------------------


def test_the_commands_exit_code_and_times_are_kept(tmp_path: Path) -> None:
    before = time.time()
    wrapped, _, _ = wrap(tmp_path, ["sh", "-c", "sleep 0.2; exit 42"])
    assert wrapped.exit_code == 42
    assert wrapped.argv == ("sh", "-c", "sleep 0.2; exit 42")
    assert before <= wrapped.started_at <= wrapped.ended_at <= time.time()
    assert 0.2 <= wrapped.duration_seconds < WAIT
    assert wrapped.ended_at - wrapped.started_at == pytest.approx(
        wrapped.duration_seconds, abs=0.05
    )
    assert (wrapped.start_error, wrapped.interrupted_by) == (None, None)


def test_without_a_pidfd_the_exit_is_found_by_polling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "_pidfd", lambda pid: None)
    wrapped, out, _ = wrap(tmp_path, ["sh", "-c", "echo 'snapshot 0123abcd saved'; exit 4"])
    assert (wrapped.exit_code, out) == (4, b"snapshot 0123abcd saved\n")
    assert len(wrapped.groups) == 1


def test_a_command_that_closes_its_output_early_is_still_waited_for(tmp_path: Path) -> None:
    wrapped, out, _ = wrap(tmp_path, ["sh", "-c", "echo early; exec >&- 2>&-; sleep 0.3; exit 6"])
    assert (wrapped.exit_code, out) == (6, b"early\n")
    assert wrapped.duration_seconds >= 0.3


def test_a_command_not_found_exits_127() -> None:
    wrapped = run_command(["pushrestic-no-such-command"])
    assert wrapped.exit_code == 127
    assert wrapped.start_error == "command not found: pushrestic-no-such-command"
    assert (wrapped.groups, wrapped.parse_error) == ((), None)


def test_a_missing_path_exits_127(tmp_path: Path) -> None:
    wrapped = run_command([str(tmp_path / "gone")])
    assert wrapped.exit_code == 127
    assert wrapped.start_error == f"no such file: {tmp_path / 'gone'}"


def test_a_file_that_is_not_executable_exits_126(tmp_path: Path) -> None:
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    wrapped = run_command([str(script)])
    assert wrapped.exit_code == 126
    assert wrapped.start_error == f"permission denied: {script}"
    directory = run_command([str(tmp_path)])
    assert directory.exit_code == 126


def test_a_command_killed_by_sigkill_exits_137(tmp_path: Path) -> None:
    wrapped, _, _ = wrap(tmp_path, ["sh", "-c", "echo 'open repository'; kill -KILL $$"])
    assert wrapped.exit_code == 137
    assert wrapped.interrupted_by is None
    (group,) = wrapped.groups
    assert group.output.recognized


# -- signals ------------------------------------------------------------------


@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name
)
def test_a_signal_to_pushrestic_reaches_the_whole_command_and_is_reported(
    tmp_path: Path, signum: signal.Signals
) -> None:
    result = tmp_path / "result.json"
    # sh waits for sleep: only a signal to the whole group ends both at once.
    proc = start_wrapper(result, ["sh", "-c", "echo ready; sleep 60; echo not reached"])
    read_until(proc, b"ready\n")
    proc.send_signal(signum)
    facts, rest = finish_wrapper(proc, result)
    assert facts["interrupted_by"] == signum
    assert facts["exit_code"] == 128 + signum
    assert facts["duration_seconds"] < WAIT
    assert b"not reached" not in rest


def test_a_sigint_sent_to_pushrestic_is_forwarded_once(tmp_path: Path) -> None:
    result = tmp_path / "result.json"
    proc = start_wrapper(result, python(SIGNAL_COUNTER))
    read_until(proc, b"ready\n")
    proc.send_signal(signal.SIGINT)
    facts, rest = finish_wrapper(proc, result)
    # Without a terminal the command runs in a process group of its own.
    assert rest == f"count=1 pgid={_pgid_line(rest)}\n".encode()
    assert _pgid_line(rest) != facts["pid"]
    assert (facts["interrupted_by"], facts["exit_code"]) == (signal.SIGINT, 130)


def test_ctrl_c_in_a_terminal_reaches_the_command_once(tmp_path: Path) -> None:
    """The terminal signals the foreground group: pushrestic must not forward it again."""
    result = tmp_path / "result.json"
    master, slave = pty.openpty()
    try:
        proc = start_wrapper(result, python(SIGNAL_COUNTER), stdin=slave, take_tty=True)
        os.close(slave)
        slave = -1
        read_until(proc, b"ready\n")
        assert termios.tcgetattr(master)[6][termios.VINTR] == b"\x03"
        os.write(master, b"\x03")
        facts, rest = finish_wrapper(proc, result)
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    assert rest == f"count=1 pgid={facts['pid']}\n".encode()
    assert (facts["interrupted_by"], facts["exit_code"]) == (signal.SIGINT, 130)


def test_a_sigterm_sent_to_pushrestic_in_a_terminal_reaches_the_command_once(
    tmp_path: Path,
) -> None:
    """No terminal sends SIGTERM: the command, in pushrestic's group, did not get it."""
    result = tmp_path / "result.json"
    master, slave = pty.openpty()
    try:
        proc = start_wrapper(
            result, [*python(SIGNAL_COUNTER), "SIGTERM"], stdin=slave, take_tty=True
        )
        os.close(slave)
        slave = -1
        read_until(proc, b"ready\n")
        proc.send_signal(signal.SIGTERM)
        facts, rest = finish_wrapper(proc, result)
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    assert rest == f"count=1 pgid={facts['pid']}\n".encode()
    assert (facts["interrupted_by"], facts["exit_code"]) == (signal.SIGTERM, 143)


def test_the_command_gets_the_environment_it_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DROPPED", "pushrestic's own")
    wrapped, out, _ = wrap(
        tmp_path, ["sh", "-c", 'echo "${KEPT-unset} ${DROPPED-unset}"'], env={"KEPT": "kept"}
    )
    assert (wrapped.exit_code, out) == (0, b"kept unset\n")


def _pgid_line(output: bytes) -> int:
    return int(output.decode().rsplit("pgid=", 1)[1])


def test_the_previous_signal_handlers_are_restored(tmp_path: Path) -> None:
    before = {signum: signal.getsignal(signum) for signum in runner.FORWARDED_SIGNALS}
    wrap(tmp_path, ["true"])
    run_command(["pushrestic-no-such-command"])
    assert {signum: signal.getsignal(signum) for signum in runner.FORWARDED_SIGNALS} == before


@pytest.mark.usefixtures("restore_sighup")
def test_an_ignored_signal_stays_ignored_for_the_command(tmp_path: Path) -> None:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as nohup leaves it
    wrapped, out, _ = wrap(tmp_path, ["sh", "-c", "kill -HUP $$; echo survived"])
    assert out == b"survived\n"
    assert (wrapped.exit_code, wrapped.interrupted_by) == (0, None)
    assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN


def test_a_run_outside_the_main_thread_forwards_no_signal_and_still_works(
    tmp_path: Path,
) -> None:
    results: list[Wrapped] = []
    thread = threading.Thread(
        target=lambda: results.append(run_command(["sh", "-c", "exit 5"], stdout=1, stderr=2))
    )
    thread.start()
    thread.join(WAIT)
    assert not thread.is_alive()
    assert results[0].exit_code == 5


# -- on a terminal ------------------------------------------------------------

_TTY_REPORT = (
    "import os, sys; out = sys.stdout.buffer; "
    "out.write(b'stdout %d stderr %d\\n' % (os.isatty(1), os.isatty(2))); out.flush(); "
    "os.write(2, b'to stderr\\n'); os.write(1, b'a\\r\\nb\\n')"
)


def test_on_a_terminal_the_command_writes_to_a_terminal_and_its_bytes_pass_unchanged() -> None:
    wrapped, shown = wrap_on_terminal(python(_TTY_REPORT))
    assert wrapped.exit_code == 0
    assert shown == b"stdout 1 stderr 1\nto stderr\na\r\nb\n"


def test_outside_a_terminal_the_command_writes_to_pipes(tmp_path: Path) -> None:
    wrapped, out, err = wrap(tmp_path, python(_TTY_REPORT))
    assert (wrapped.exit_code, out, err) == (0, b"stdout 0 stderr 0\na\r\nb\n", b"to stderr\n")


def test_on_a_terminal_a_stderr_that_is_not_that_terminal_stays_a_pipe(tmp_path: Path) -> None:
    with (tmp_path / "stderr").open("wb") as err:
        wrapped, shown = wrap_on_terminal(python(_TTY_REPORT), stderr=err.fileno())
    assert wrapped.exit_code == 0
    assert shown == b"stdout 1 stderr 0\na\r\nb\n"
    assert (tmp_path / "stderr").read_bytes() == b"to stderr\n"


def test_without_a_pseudo_terminal_to_be_had_the_output_goes_through_pipes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class WithoutPty:
        """The os module as runner sees it, with every pseudo-terminal taken."""

        def __getattr__(self, name: str) -> Any:
            return getattr(os, name)

        @staticmethod
        def openpty() -> tuple[int, int]:
            raise OSError(28, "out of pseudo-terminals")

    monkeypatch.setattr(runner, "os", WithoutPty())
    wrapped, shown = wrap_on_terminal(python(_TTY_REPORT))
    assert wrapped.exit_code == 0
    expected = b"stdout 0 stderr 0\nto stderr\na\r\nb\n"
    assert sorted(shown.splitlines()) == sorted(expected.splitlines())


def test_the_command_s_terminal_has_the_size_of_pushrestic_s() -> None:
    code = "import os; print('%dx%d' % tuple(os.get_terminal_size(1)))"
    wrapped, shown = wrap_on_terminal(python(code), rows=33, columns=111)
    assert (wrapped.exit_code, shown) == (0, b"111x33\n")


def terminal_restic(log: bytes) -> bytes:
    """A restic 0.14 text log as restic writes it to a terminal: each line after a
    line erase, status lines rewritten in place before the summary (as captured)."""
    lines = log.splitlines(keepends=True)
    status = b"".join(
        b"\r\x1b[2K[0:0%d] %d files 0 B, total 3 files 6 B, 0 errors" % (n, n) for n in range(3)
    )
    shown = [b"\r\x1b[2K" + lines[0], status + b"\r\r\x1b[2K\r\r\x1b[2K\n"]
    shown += [b"\r\x1b[2K\r\r\x1b[2K" + line for line in lines[1:]]
    return b"".join(shown) + b"\r\x1b[2K\r\r\x1b[2K\n\r\x1b[1A"


def test_restic_s_terminal_output_is_parsed_as_its_plain_log_is(tmp_path: Path) -> None:
    log = SAMPLES / "restic-0.14-backup-text-initial.log"
    shown_by_restic = tmp_path / "on-a-terminal"
    shown_by_restic.write_bytes(terminal_restic(log.read_bytes()))
    wrapped, shown = wrap_on_terminal(["cat", str(shown_by_restic)])
    assert shown == shown_by_restic.read_bytes()
    with log.open("rb") as stream:
        expected = parse_groups(LineReader(stream, "<cat>"), source="<cat>")
    assert wrapped.parse_error is None
    assert [g.output.backup for g in wrapped.groups] == [g.output.backup for g in expected]
    (group,) = wrapped.groups
    assert group.output.backup is not None
    assert group.output.backup.summary is not None
    assert group.output.backup.summary.files_new == 17


def test_autorestic_s_colours_on_a_terminal_do_not_change_what_is_parsed(tmp_path: Path) -> None:
    coloured = tmp_path / "autorestic"
    lines = AUTORESTIC_LOG.read_bytes().splitlines(keepends=True)
    coloured.write_bytes(
        b"".join(b"\x1b[1;36m" + line.replace(b"\n", b"\x1b[0m\n") for line in lines)
    )
    wrapped, _ = wrap_on_terminal(["cat", str(coloured)])
    with AUTORESTIC_LOG.open("rb") as stream:
        expected = parse_groups(LineReader(stream, "<cat>"), source="<cat>")
    assert len(expected) > 1
    assert wrapped.parse_error is None
    assert [(g.location, g.backend, g.exit_code) for g in wrapped.groups] == [
        (g.location, g.backend, g.exit_code) for g in expected
    ]
    assert [g.output.backup for g in wrapped.groups] == [g.output.backup for g in expected]


_REWRITER = r"""
import sys
out = sys.stdout.buffer
out.write(b"no parent snapshot found, will read all files\n")
status = b"".join(b"\r\x1b[2K[0:%02d] %d files 0 B, total 3 files 6 B, 0 errors" % (n % 60, n)
                  for n in range(1000))
written = 0
while written < int(sys.argv[1]):
    out.write(status)
    written += len(status)
out.write(b"\r\x1b[2Kerror: open /srv/locked: permission denied\n")
out.write(b"\r\x1b[2K\r\r\x1b[2K\nFiles:  3 new,  0 changed,  0 unmodified\n")
out.write(b"\r\x1b[2K\r\r\x1b[2Ksnapshot 0123abcd saved\n")
"""


@pytest.mark.slow
def test_a_progress_line_rewritten_for_ever_is_parsed_as_shown_in_bounded_memory(
    tmp_path: Path,
) -> None:
    """restic's one-line progress bar never ends its line: a message printed over it
    (an unreadable file's error) ends it. On a terminal that line is kept as shown,
    not cut after its first MAX_LINE bytes, so the message is parsed; memory stays
    bounded."""
    result = tmp_path / "result.json"
    size = 24 * MAX_LINE
    with Terminal() as terminal:
        proc = start_wrapper(result, [*python(_REWRITER), str(size)], terminal=terminal.slave)
        terminal.let_go()
        facts, shown = finish_on_terminal(proc, result, terminal.master, timeout=120.0)
    assert len(shown) > size
    assert facts["exit_code"] == 0
    assert facts["parse_error"] is None
    (group,) = facts["groups"]
    assert group["output"]["backup"]["snapshot_id"] == "0123abcd"
    assert group["output"]["backup"]["summary"]["files_new"] == 3
    assert group["output"]["backup"]["errors"] == 1
    growth = facts["peak_rss"] - facts["rss_before"]
    assert growth < 16 * 1024 * 1024, f"peak memory grew by {growth / 1e6:.1f} MB"


# Prints its terminal's size when ready, then each size it reads on SIGWINCH, until
# it reads 111x33 (or 30 s passed).
_RESIZE_WATCHER = r"""
import os, signal, time
seen = []
signal.signal(signal.SIGWINCH, lambda signum, frame: seen.append(os.get_terminal_size(1)))
print("ready %dx%d" % tuple(os.get_terminal_size(1)), flush=True)
deadline = time.monotonic() + 30
while time.monotonic() < deadline and not (seen and tuple(seen[-1]) == (111, 33)):
    time.sleep(0.01)
print("sizes " + " ".join("%dx%d" % tuple(size) for size in seen), flush=True)
"""


@pytest.mark.parametrize("foreground", [True, False], ids=["foreground", "own-group"])
def test_the_command_s_terminal_follows_the_window_size(tmp_path: Path, foreground: bool) -> None:
    """In the foreground the terminal sends SIGWINCH to the whole group; otherwise the
    test sends it to pushrestic alone. Either way the command reads the new size."""
    result = tmp_path / "result.json"
    with Terminal(24, 80) as terminal:
        proc = start_wrapper(
            result, python(_RESIZE_WATCHER), terminal=terminal.slave, take_tty=foreground
        )
        terminal.let_go()
        read_terminal(terminal.master, until=b"ready 80x24\n")
        termios.tcsetwinsize(terminal.master, (33, 111))
        if not foreground:
            proc.send_signal(signal.SIGWINCH)
        facts, shown = finish_on_terminal(proc, result, terminal.master)
    assert facts["exit_code"] == 0
    sizes = shown.split(b"sizes ", 1)[1].split()
    assert sizes[-1] == b"111x33", shown
