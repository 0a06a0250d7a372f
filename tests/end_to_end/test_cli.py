"""The installed command: exit codes, one-line errors, failed runs still reported."""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import termios
from pathlib import Path

import pytest

from pushrestic import __version__
from tests import cli
from tests.cli import Ran, pushrestic
from tests.conftest import SAMPLES
from tests.integration.servers import free_port


def assert_one_line_error(result: Ran, *words: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pushrestic: error: ")
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


def test_the_console_script_is_installed_and_prints_its_version() -> None:
    script = shutil.which("pushrestic")
    assert script is not None, "pip install . puts pushrestic on the PATH"
    done = subprocess.run([script, "--version"], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert done.stdout.strip() == f"pushrestic {__version__}"


def test_the_readme_example_prints_four_groups() -> None:
    example = Path(__file__).parents[2] / "pushrestic" / "examples" / "autorestic-backup.log"
    result = pushrestic("push", "--dry-run", str(example))
    assert result.code == 0, result.stderr
    assert result.value("restic_backup_success", location="documents", backend="usb") == 1
    assert result.value("restic_backup_exit_code", location="mixed", backend="local") == 3
    groups = {
        (dict(ls)["location"], dict(ls)["backend"])
        for n, ls in result.series()
        if n == "restic_backup_success"
    }
    assert groups == {
        ("documents", "local"),
        ("documents", "usb"),
        ("config", "local"),
        ("mixed", "local"),
    }


def test_a_log_on_stdin_is_read_when_no_file_is_named() -> None:
    log = (SAMPLES / "restic-0.14-backup-text-initial.log").read_bytes()
    result = pushrestic("push", "--dry-run", "--location", "docs", input=log)
    assert result.code == 0, result.stderr
    assert result.value("restic_backup_files", location="docs", state="new") == 17


def test_the_given_exit_code_beats_what_the_output_suggests() -> None:
    sample = SAMPLES / "restic-0.14-backup-text-initial.log"
    result = pushrestic("push", "--dry-run", "--exit-code", "1", str(sample))
    assert result.code == 0
    assert result.value("restic_backup_success") == 0
    assert result.value("restic_backup_exit_code") == 1
    assert "restic_backup_last_success_timestamp_seconds" not in result.names()


def test_labels_are_added_to_every_series() -> None:
    sample = SAMPLES / "restic-0.14-backup-text-initial.log"
    result = pushrestic("push", "--dry-run", "--label", "env=prod", str(sample))
    assert result.code == 0
    assert all(("env", "prod") in labels for _, labels in result.series())


def test_location_picks_one_group_of_an_autorestic_log() -> None:
    sample = SAMPLES / "autorestic-1.8.3-backup-multi.reconstructed.log"
    result = pushrestic("push", "--dry-run", "--location", "mixed", str(sample))
    assert result.code == 0, result.stderr
    locations = {dict(ls)["location"] for _, ls in result.series()}
    assert locations == {"mixed"}


def test_a_location_that_is_not_in_the_log_is_a_usage_error() -> None:
    sample = SAMPLES / "autorestic-1.8.3-backup-multi.reconstructed.log"
    result = pushrestic("push", "--dry-run", "--location", "nope", str(sample))
    assert result.code == 2
    assert_one_line_error(result, "nope")


def test_a_missing_log_is_reported_as_a_failed_run_with_exit_66(tmp_path: Path) -> None:
    result = pushrestic("push", "--dry-run", "--location", "docs", str(tmp_path / "none.log"))
    assert result.code == 66
    assert_one_line_error(result, "none.log", "failed run")
    assert result.value("restic_backup_success", location="docs") == 0
    assert "restic_backup_exit_code" not in result.names()


def test_a_directory_is_not_a_log(tmp_path: Path) -> None:
    result = pushrestic("push", "--dry-run", str(tmp_path))
    assert result.code == 66
    assert_one_line_error(result, str(tmp_path))
    assert result.value("restic_backup_success") == 0


def test_an_empty_log_is_a_failed_run_with_exit_65(tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    result = pushrestic("push", "--dry-run", str(empty))
    assert result.code == 65
    assert_one_line_error(result, "empty.log", "empty")
    assert result.value("restic_backup_success") == 0


def test_an_empty_log_with_exit_code_0_is_a_quiet_success(tmp_path: Path) -> None:
    empty = tmp_path / "quiet.log"
    empty.write_bytes(b"")
    result = pushrestic("push", "--dry-run", "--exit-code", "0", str(empty))
    assert result.code == 0, result.stderr
    assert result.value("restic_backup_success") == 1
    assert result.value("restic_backup_last_success_timestamp_seconds") > 0


def test_a_binary_file_is_a_failed_run_with_exit_65(tmp_path: Path) -> None:
    binary = tmp_path / "restic.bin"
    binary.write_bytes(bytes(range(256)) * 64)
    result = pushrestic("push", "--dry-run", "--exit-code", "0", str(binary))
    assert result.code == 65
    assert_one_line_error(result, "restic.bin", "binary")
    assert result.value("restic_backup_success") == 0


def test_a_log_of_another_program_is_a_failed_run_with_exit_65(tmp_path: Path) -> None:
    other = tmp_path / "rsync.log"
    other.write_text("sending incremental file list\n./\nfile.txt\n\nsent 1,234 bytes\n")
    result = pushrestic("push", "--dry-run", str(other))
    assert result.code == 65
    assert_one_line_error(result, "rsync.log", "not restic output")
    assert result.value("restic_backup_success") == 0


def test_a_json_summary_with_a_wrong_type_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"message_type":"status","percent_done":0.5}\n'
        '{"message_type":"summary","files_new":"many","snapshot_id":"45fbd684"}\n'
    )
    result = pushrestic("push", "--dry-run", str(bad))
    assert result.code == 65
    assert_one_line_error(result, "bad.jsonl:2", "files_new")
    assert result.value("restic_backup_success") == 0


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["push", "--dry-run", "--label", "job=x", "x.log"], ["job", "reserved"]),
        (["push", "--label", "env=prod", "x.log"], ["--dry-run"]),
    ],
)
def test_usage_errors_exit_2_with_one_line(args: list[str], words: list[str]) -> None:
    result = pushrestic(*args)
    assert result.code == 2
    assert_one_line_error(result, *words)
    assert result.stdout == ""


def test_an_exit_code_out_of_range_is_refused() -> None:
    result = pushrestic("push", "--dry-run", "--exit-code", "300", "x.log")
    assert result.code == 2
    assert "Traceback" not in result.stderr


def test_no_command_prints_help_and_exits_2() -> None:
    result = pushrestic()
    assert result.code == 2
    assert "push" in result.stderr


# -- a good Unix tool ---------------------------------------------------------

RESTIC_LOG = SAMPLES / "restic-0.14-backup-text-initial.log"


@pytest.mark.parametrize(
    "args",
    [
        ["-v", "push", "--dry-run", str(RESTIC_LOG)],
        ["push", "-v", "--dry-run", str(RESTIC_LOG)],
        ["push", "--dry-run", str(RESTIC_LOG), "--verbose"],
    ],
    ids=["before", "after", "at-the-end"],
)
def test_verbose_is_taken_before_or_after_the_subcommand(args: list[str]) -> None:
    result = pushrestic(*args)
    assert result.code == 0, result.stderr
    assert "pushrestic: default/default: exit code 0" in result.stderr
    assert result.value("restic_backup_success") == 1


@pytest.mark.parametrize("before", [True, False], ids=["before", "after"])
def test_config_is_taken_before_or_after_the_subcommand(tmp_path: Path, before: bool) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[labels]\nenv = "prod"\n')
    given = ["--config", str(config)]
    args = [*given, "push"] if before else ["push", *given]
    result = pushrestic(*args, "--dry-run", str(RESTIC_LOG))
    assert result.code == 0, result.stderr
    assert all(("env", "prod") in labels for _, labels in result.series())


def test_a_verbose_before_the_subcommand_is_not_undone_by_it() -> None:
    result = pushrestic("-v", "config")
    assert result.code == 0, result.stderr
    quiet = pushrestic("config")
    assert quiet.stderr == ""


def test_log_lines_have_the_style_of_the_cli_s_own(tmp_path: Path) -> None:
    """pushrestic: warning: ..., as the CLI's errors and warnings; -v lines bare."""
    config = tmp_path / "config.toml"
    config.write_text('[pushgateway]\npassword = "not-shown"\n')
    config.chmod(0o644)
    result = pushrestic("push", "-v", "--config", str(config), "--dry-run", str(RESTIC_LOG))
    assert result.code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines, result.stderr
    assert all(line.startswith("pushrestic: ") for line in lines), result.stderr
    assert not [line for line in lines if "WARNING" in line or "INFO" in line]
    assert any(line.startswith(f"pushrestic: warning: {config} holds") for line in lines)
    assert "pushrestic: default/default: exit code 0 (inferred)" in lines


def test_text_logs_carry_no_empty_label() -> None:
    """restic 0.14's text output names no version: the label is left out, not empty."""
    result = pushrestic("push", "--dry-run", str(RESTIC_LOG))
    assert result.code == 0, result.stderr
    assert '=""' not in result.stdout
    (info,) = [labels for name, labels in result.series() if name == "restic_backup_info"]
    assert dict(info) == {"location": "default", "backend": "default", "snapshot_id": "45fbd684"}


@pytest.mark.parametrize(
    ("log", "args"),
    [
        (RESTIC_LOG, ["--exit-code", "1"]),  # a failed run: its last success is looked up
        (Path(__file__).parents[2] / "pushrestic" / "examples" / "autorestic-backup.log", []),
    ],
    ids=["failed-run", "four-groups"],
)
def test_with_the_gateway_down_push_says_so_on_one_line_naming_the_cause(
    tmp_path: Path, log: Path, args: list[str]
) -> None:
    gateway = f"http://127.0.0.1:{free_port()}"
    spool = tmp_path / "spool"
    quick = ["--attempts", "2", "--deadline", "10"]
    result = pushrestic(
        "push", "--gateway", gateway, "--spool-dir", str(spool), *quick, *args, str(log)
    )
    assert result.code == 75
    assert_one_line_error(result, "push failed", str(spool), "Connection refused")


def test_with_the_gateway_down_verbose_logs_each_retry_as_it_happens(tmp_path: Path) -> None:
    """The first retry is said while pushrestic still waits to try again (at least 0.5 s
    of backoff, then two more attempts), not at its end."""
    gateway = f"http://127.0.0.1:{free_port()}"
    proc = subprocess.Popen(
        cli.argv(
            *("push", "-v", "--gateway", gateway, "--spool-dir", str(tmp_path / "spool")),
            *("--attempts", "3", str(RESTIC_LOG)),
        ),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=cli.environment(),
    )
    try:
        assert proc.stderr is not None
        first_retry = b""
        while b"(attempt 1 of 3)" not in first_retry:
            line = proc.stderr.readline()
            assert line, "pushrestic ended before saying it retries"
            first_retry = line
        running_when_said = proc.poll() is None
        rest = proc.stderr.read()
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert running_when_said
    assert first_retry.startswith(b"pushrestic: push of group ")
    assert b"Connection refused; retrying in " in first_retry
    assert b"(attempt 2 of 3)" in rest
    assert code == 75
    assert rest.count(b"pushrestic: error: ") == 1


def test_a_hint_is_printed_when_stdin_is_a_terminal() -> None:
    """``push`` without LOG reads stdin: on a terminal, it says so (and how to end)."""
    master, slave = pty.openpty()
    attributes = termios.tcgetattr(slave)
    attributes[3] &= ~termios.ECHO  # lflag: what is typed is not shown back (and not read)
    termios.tcsetattr(slave, termios.TCSANOW, attributes)
    try:
        proc = subprocess.Popen(
            cli.argv("push", "--dry-run"),
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=cli.environment(),
        )
        os.close(slave)
        slave = -1
        assert proc.stderr is not None
        ready, _, _ = select.select([proc.stderr], [], [], 60)  # never hang the suite
        if not ready:
            proc.kill()
        hint = proc.stderr.readline()
        for line in RESTIC_LOG.read_bytes().splitlines(keepends=True):
            typed = memoryview(line)
            while typed:
                typed = typed[os.write(master, typed) :]
        os.write(master, b"\x04")  # Ctrl-D at the start of a line: the end of the input
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    assert hint == b"pushrestic: reading restic's output from stdin (Ctrl-D to end)\n"
    assert proc.returncode == 0, err
    assert (
        Ran(("push", "--dry-run"), 0, out.decode(), "", 0.0).value(
            "restic_backup_files", state="new"
        )
        == 17
    )


def test_no_hint_when_stdin_is_a_pipe() -> None:
    result = pushrestic("push", "--dry-run", input=RESTIC_LOG.read_bytes())
    assert result.code == 0
    assert result.stderr == ""


@pytest.mark.parametrize("where", ["flag", "environment"])
def test_a_gateway_without_a_scheme_still_refuses_a_password_in_it(where: str) -> None:
    url = "backup:s3cret@127.0.0.1:9091"
    args = ["push", str(RESTIC_LOG)]
    if where == "flag":
        result = pushrestic(*args, "--gateway", url)
    else:
        result = pushrestic(*args, env={"PUSHRESTIC_GATEWAY": url})
    assert result.code == 2
    assert_one_line_error(result, "no user or password")
    assert "s3cret" not in result.stderr
