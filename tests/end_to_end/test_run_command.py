"""``pushrestic run``: output passed through, the exit code kept, the run reported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import SAMPLES

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]
GROUP = frozenset({("location", "srv"), ("backend", "default")})


def run(tmp_path: Path, *command: str) -> tuple[subprocess.CompletedProcess[bytes], Series]:
    textfile = tmp_path / "restic.prom"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHRESTIC_")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pushrestic",
            "run",
            "--location",
            "srv",
            "--textfile",
            str(textfile),
            "--",
            *command,
        ],
        capture_output=True,
        timeout=60,
        check=False,
        env=env,
    )
    found: Series = {}
    if textfile.exists():
        for family in text_string_to_metric_families(textfile.read_text()):
            for sample in family.samples:
                found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return done, found


def test_a_successful_restic_run_passes_its_output_through_and_is_reported(tmp_path: Path) -> None:
    log = SAMPLES / "restic-0.14-backup-text-initial.log"
    done, found = run(tmp_path, "cat", str(log))
    assert done.returncode == 0, done.stderr
    assert done.stdout == log.read_bytes(), "passed through byte for byte"
    assert found[("restic_backup_success", GROUP)] == 1
    assert found[("restic_backup_files", GROUP | {("state", "new")})] == 17
    assert found[("restic_backup_duration_seconds", GROUP)] == 0.0  # restic's own figure


def test_the_command_s_exit_code_is_kept_and_reported(tmp_path: Path) -> None:
    log = SAMPLES / "restic-0.14-backup-text-warning-unreadable.log"
    done, found = run(tmp_path, "sh", "-c", f"cat '{log}'; exit 3")
    assert done.returncode == 3
    assert found[("restic_backup_exit_code", GROUP)] == 3
    assert found[("restic_backup_success", GROUP)] == 0


def test_a_command_that_prints_nothing_and_fails_is_reported_failed(tmp_path: Path) -> None:
    done, found = run(tmp_path, "sh", "-c", "exit 12")
    assert done.returncode == 12
    assert found[("restic_backup_exit_code", GROUP)] == 12
    assert ("restic_backup_duration_seconds", GROUP) in found, "the wall time is measured"


def test_a_command_that_cannot_be_started_is_a_failed_run_with_exit_127(tmp_path: Path) -> None:
    done, found = run(tmp_path, "no-such-restic-binary", "backup")
    assert done.returncode == 127
    assert b"no-such-restic-binary" in done.stderr
    assert b"Traceback" not in done.stderr
    assert found[("restic_backup_success", GROUP)] == 0
    assert found[("restic_backup_exit_code", GROUP)] == 127


def test_an_autorestic_run_reports_one_group_per_location_and_backend(tmp_path: Path) -> None:
    log = SAMPLES / "autorestic-1.8.3-backup-multi-verbose.reconstructed.log"
    script = tmp_path / "autorestic"
    script.write_text(f"#!/bin/sh\ncat '{log}'\nexit 1\n")
    script.chmod(0o755)
    textfile = tmp_path / "restic.prom"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pushrestic",
            "run",
            "--textfile",
            str(textfile),
            "--",
            str(script),
            "backup",
            "-a",
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    text = textfile.read_text()
    assert 'restic_backup_exit_code{backend="local",location="mixed"} 3.0' in text
    assert 'restic_backup_success{backend="usb",location="documents"} 1.0' in text


def test_run_without_a_command_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pushrestic", "run", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "COMMAND" in done.stderr
