"""``pushrestic run``: output passed through, the exit code kept, the run reported."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests import cli
from tests.cli import Ran, pushrestic
from tests.conftest import SAMPLES
from tests.integration.commands import SIGNAL_COUNTER, read_terminal
from tests.integration.servers import free_port

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]
GROUP = frozenset({("location", "srv"), ("backend", "default")})


def run(tmp_path: Path, *command: str) -> tuple[Ran, Series]:
    textfile = tmp_path / "restic.prom"
    done = pushrestic("run", "--location", "srv", "--textfile", str(textfile), "--", *command)
    found: Series = {}
    if textfile.exists():
        for family in text_string_to_metric_families(textfile.read_text()):
            for sample in family.samples:
                found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return done, found


def test_a_successful_restic_run_passes_its_output_through_and_is_reported(tmp_path: Path) -> None:
    log = SAMPLES / "restic-0.14-backup-text-initial.log"
    done, found = run(tmp_path, "cat", str(log))
    assert done.code == 0, done.stderr
    assert done.stdout_bytes == log.read_bytes(), "passed through byte for byte"
    assert found[("restic_backup_success", GROUP)] == 1
    assert found[("restic_backup_files", GROUP | {("state", "new")})] == 17
    assert found[("restic_backup_duration_seconds", GROUP)] == 0.0  # restic's own figure


def test_the_command_s_exit_code_is_kept_and_reported(tmp_path: Path) -> None:
    log = SAMPLES / "restic-0.14-backup-text-warning-unreadable.log"
    done, found = run(tmp_path, "sh", "-c", f"cat '{log}'; exit 3")
    assert done.code == 3
    assert found[("restic_backup_exit_code", GROUP)] == 3
    assert found[("restic_backup_success", GROUP)] == 0


def test_a_command_that_prints_nothing_and_fails_is_reported_failed(tmp_path: Path) -> None:
    done, found = run(tmp_path, "sh", "-c", "exit 12")
    assert done.code == 12
    assert found[("restic_backup_exit_code", GROUP)] == 12
    assert ("restic_backup_duration_seconds", GROUP) in found, "the wall time is measured"


def test_a_command_that_cannot_be_started_is_a_failed_run_with_exit_127(tmp_path: Path) -> None:
    done, found = run(tmp_path, "no-such-restic-binary", "backup")
    assert done.code == 127
    assert "no-such-restic-binary" in done.stderr
    assert "Traceback" not in done.stderr
    assert found[("restic_backup_success", GROUP)] == 0
    assert found[("restic_backup_exit_code", GROUP)] == 127


def test_an_autorestic_run_reports_one_group_per_location_and_backend(tmp_path: Path) -> None:
    log = SAMPLES / "autorestic-1.8.3-backup-multi-verbose.reconstructed.log"
    script = tmp_path / "autorestic"
    script.write_text(f"#!/bin/sh\ncat '{log}'\nexit 1\n")
    script.chmod(0o755)
    textfile = tmp_path / "restic.prom"
    done = pushrestic("run", "--textfile", str(textfile), "--", str(script), "backup", "-a")
    assert done.code == 1
    text = textfile.read_text()
    assert 'restic_backup_exit_code{backend="local",location="mixed"} 3.0' in text
    assert 'restic_backup_success{backend="usb",location="documents"} 1.0' in text


def test_run_without_a_command_is_a_usage_error() -> None:
    done = pushrestic("run", "--dry-run")
    assert done.code == 2
    assert "COMMAND" in done.stderr


# -- the exit code is the command's, whatever happens to the report -----------------


def pushrestic_run(
    *options: str,
    command: Sequence[str],
    stdout: int = subprocess.PIPE,
    env: dict[str, str] | None = None,
) -> Ran:
    """``pushrestic run OPTIONS -- COMMAND`` in a clean environment (plus ``env``)."""
    return pushrestic(
        "run", *options, "--", *command,
        stdout=stdout, env=env, without=("PUSHRESTIC_", "RESTIC_"),
    )  # fmt: skip


def a_backup_that_exits_3(marker: Path) -> list[str]:
    """A command that leaves ``marker`` behind, prints restic's output and exits 3."""
    log = SAMPLES / "restic-0.14-backup-text-warning-unreadable.log"
    return ["sh", "-c", f"touch '{marker}'; cat '{log}'; exit 3"]


def assert_one_reporting_error(done: Ran, *words: str) -> None:
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert len(errors) == 1, done.stderr
    for word in words:
        assert word in errors[0], done.stderr
    assert "Traceback" not in done.stderr
    assert "Exception ignored" not in done.stderr


def test_run_keeps_the_command_s_code_when_the_spool_cannot_be_written(tmp_path: Path) -> None:
    """A path under a regular file cannot be a directory, for root too."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    marker = tmp_path / "ran"
    done = pushrestic_run(
        "--gateway",
        f"http://127.0.0.1:{free_port()}",
        "--attempts",
        "1",
        "--spool-dir",
        str(blocker / "spool"),
        command=a_backup_that_exits_3(marker),
    )
    assert marker.exists()
    assert done.code == 3, done.stderr
    assert "Traceback" not in done.stderr
    assert str(blocker / "spool") in done.stderr


def test_run_runs_the_command_and_keeps_its_code_when_the_password_file_is_missing(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "ran"
    missing = tmp_path / "no-such-password"
    done = pushrestic_run(
        "--gateway",
        "http://127.0.0.1:9091",
        "--basic-auth-user",
        "backup",
        "--password-file",
        str(missing),
        "--spool-dir",
        str(tmp_path / "spool"),
        command=a_backup_that_exits_3(marker),
    )
    assert marker.exists(), "the command ran"
    assert done.code == 3
    assert_one_reporting_error(done, str(missing))


def test_run_runs_the_command_and_keeps_its_code_whatever_the_configuration_holds(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[pushgateway\n")
    marker = tmp_path / "ran"
    done = pushrestic_run(
        "--config", str(config), "--dry-run", command=a_backup_that_exits_3(marker)
    )
    assert marker.exists(), "the command ran"
    assert done.code == 3
    assert_one_reporting_error(done, str(config), "not valid TOML")
    log = SAMPLES / "restic-0.14-backup-text-warning-unreadable.log"
    assert done.stdout_bytes == log.read_bytes(), "its output passed through, no report printed"


def test_run_keeps_the_command_s_code_when_no_destination_is_given(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    done = pushrestic_run(command=a_backup_that_exits_3(marker))
    assert marker.exists()
    assert done.code == 3
    assert_one_reporting_error(done, "no destination")


def test_run_with_dry_run_keeps_the_command_s_code_when_its_stdout_is_closed(
    tmp_path: Path,
) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to stdout fails: EPIPE
    try:
        done = pushrestic_run("--dry-run", command=["sh", "-c", "exit 3"], stdout=write_end)
    finally:
        os.close(write_end)
    assert done.code == 3, done.stderr
    assert_one_reporting_error(done, "stdout")


def test_the_wrapped_command_gets_restic_s_variables_but_not_pushrestic_s_secrets(
    tmp_path: Path,
) -> None:
    seen = tmp_path / "environment"
    done = pushrestic_run(
        "--dry-run",
        command=["sh", "-c", f"env > '{seen}'"],
        env={
            "PUSHRESTIC_PASSWORD": "pushrestic-password",
            "PUSHRESTIC_BEARER_TOKEN": "pushrestic-token",
            "RESTIC_PASSWORD": "restic-password",
            "RESTIC_REPOSITORY": "/srv/repo",
        },
    )
    assert done.code == 0, done.stderr
    environment = seen.read_text().splitlines()
    assert "RESTIC_PASSWORD=restic-password" in environment
    assert "RESTIC_REPOSITORY=/srv/repo" in environment
    assert not [line for line in environment if "pushrestic-" in line]


# Makes its stdin, a terminal, the controlling terminal of its session, then runs argv.
_TAKE_TTY = (
    "import os, sys; os.close(os.open(os.ttyname(0), os.O_RDWR)); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def test_a_sigterm_to_pushrestic_run_in_a_terminal_reaches_the_command() -> None:
    """In a terminal the command shares pushrestic's process group, but no terminal
    sends SIGTERM: a ``kill PID`` of pushrestic must be passed on to the command."""
    master, slave = pty.openpty()
    env = cli.environment(without=("PUSHRESTIC_", "RESTIC_"))
    try:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _TAKE_TTY,
                sys.executable,
                "-m",
                "pushrestic",
                "run",
                "--dry-run",
                "--",
                sys.executable,
                "-c",
                SIGNAL_COUNTER,
                "SIGTERM",
            ],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        slave = -1
        shown = read_terminal(master, until=b"ready")
        proc.send_signal(signal.SIGTERM)
        shown += read_terminal(master, until=None)
        code = proc.wait(timeout=60)
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    assert b"count=1 " in shown, shown
    assert code == 128 + signal.SIGTERM, shown
    assert b"restic_backup_success" in shown, "the interrupted run is reported"
