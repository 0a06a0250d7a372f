"""``pushrestic journal`` end to end: real journal files, real journalctl, the installed CLI."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.journals import Journals
from tests.integration.test_journal import UNIT

pytestmark = pytest.mark.integration

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def journal_command(
    journals: Journals,
    name: str,
    *args: str,
    env: dict[str, str] | None = None,
    unit: str = UNIT,
) -> tuple[int, Series, str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SERVICE_RESULT", "EXIT_CODE", "EXIT_STATUS")
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pushrestic",
            "journal",
            "--unit",
            unit,
            "--journal-file",
            journals.file(name),
            "--location",
            "srv",
            "--dry-run",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**base, **(env or {})},
    )
    found = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(done.stdout)
        for s in family.samples
    }
    return done.returncode, found, done.stderr


GROUP = frozenset({("location", "srv"), ("backend", "default")})


def test_the_latest_successful_invocation_is_reported_with_its_steps(journals: Journals) -> None:
    code, found, stderr = journal_command(journals, "restic-backup-fail-then-success")
    assert code == 0, stderr
    assert found[("restic_backup_success", GROUP)] == 1
    assert found[("restic_backup_files", GROUP | {("state", "new")})] == 17
    steps = {
        dict(labels)["command"]: value
        for (name, labels), value in found.items()
        if name == "restic_unit_step_duration_seconds"
    }
    assert "restic" in steps
    assert all(value >= 0 for value in steps.values())


def test_the_latest_failed_invocation_is_reported_as_failed(journals: Journals) -> None:
    code, found, stderr = journal_command(journals, "restic-backup-success-then-fail")
    assert code == 0, stderr
    assert found[("restic_backup_success", GROUP)] == 0
    assert "restic_backup_last_success_timestamp_seconds" not in {n for n, _ in found}


def test_inside_exec_stop_post_the_environment_gives_the_outcome(journals: Journals) -> None:
    environment = {"SERVICE_RESULT": "exit-code", "EXIT_CODE": "exited", "EXIT_STATUS": "12"}
    code, found, stderr = journal_command(
        journals, "restic-backup-running-stop-post", env=environment
    )
    assert code == 0, stderr
    assert found[("restic_backup_success", GROUP)] == 0
    assert found[("restic_backup_exit_code", GROUP)] == 12


def test_a_unit_without_entries_is_reported_failed_with_a_one_line_error(
    journals: Journals,
) -> None:
    code, found, stderr = journal_command(
        journals, "restic-backup-fail-then-success", unit="nope.service"
    )
    assert code == 65
    assert len(stderr.strip().splitlines()) == 1
    assert "nope.service" in stderr
    assert found[("restic_backup_success", GROUP)] == 0
