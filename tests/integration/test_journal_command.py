"""``pushrestic journal`` end to end: real journal files, real journalctl, the installed CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import cli
from tests.integration.journals import Journals
from tests.integration.servers import started_node_exporter, started_pushgateway
from tests.integration.test_journal import UNIT

pytestmark = pytest.mark.integration

Series = dict[cli.SeriesKey, float]

# The journal of examples/systemd/restic-backup.service (restic unlock, backup and
# forget --prune) as its ExecStopPost= command, pushrestic journal, reads it.
EXAMPLE = "restic-backup-example-stop-post"
# What systemd sets for that command after a successful run.
STOP_POST_SUCCESS = {"SERVICE_RESULT": "success", "EXIT_CODE": "exited", "EXIT_STATUS": "0"}
STEP = "restic_unit_step_duration_seconds"
EXAMPLE_STEPS = {"restic", "restic#2", "restic#3"}


def journal_command(
    journals: Journals,
    name: str,
    *args: str,
    env: dict[str, str] | None = None,
    unit: str = UNIT,
    destination: tuple[str, ...] = ("--dry-run",),
) -> tuple[int, Series, str]:
    """``pushrestic journal`` on one of the test journals: (exit code, series, stderr).
    systemd's SERVICE_RESULT and EXIT_* of the test's own environment are left out."""
    done = cli.pushrestic(
        "journal",
        "--unit",
        unit,
        "--journal-file",
        journals.file(name),
        "--location",
        "srv",
        *destination,
        *args,
        env=env,
        without=(*cli.OWN_VARIABLES, "SERVICE_RESULT", "EXIT_CODE", "EXIT_STATUS"),
    )
    return done.code, done.series(), done.stderr


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


def test_the_shipped_examples_journal_is_accepted_by_a_real_pushgateway(
    journals: Journals, tmp_path: Path
) -> None:
    with started_pushgateway(tmp_path / "pushgateway") as gateway:
        code, _, stderr = journal_command(
            journals,
            EXAMPLE,
            env={**STOP_POST_SUCCESS, "PUSHRESTIC_SPOOL_DIR": str(tmp_path / "spool")},
            destination=("--gateway", gateway.url, "--instance", "host"),
        )
        assert code == 0, stderr
        group = gateway.api_group(job="restic", instance="host", location="srv", backend="default")
        assert group is not None, gateway.api_groups()
        assert group["last_push_successful"] is True
        steps = {m["labels"]["step"]: m for m in group[STEP]["metrics"]}
        assert set(steps) == EXAMPLE_STEPS
        assert {m["labels"]["command"] for m in steps.values()} == {"restic"}
        assert {m["labels"]["unit"] for m in steps.values()} == {UNIT}
        success = group["restic_backup_success"]["metrics"]
        assert [float(m["value"]) for m in success] == [1.0]
        pushed = gateway.pushed()
        assert {s.labels["step"] for s in pushed.find(STEP, location="srv")} == EXAMPLE_STEPS


def test_node_exporter_reads_the_shipped_examples_textfile(
    journals: Journals, tmp_path: Path
) -> None:
    directory = tmp_path / "textfile"
    directory.mkdir()
    with started_node_exporter(tmp_path / "node-exporter", directory) as exporter:
        code, _, stderr = journal_command(
            journals,
            EXAMPLE,
            env={**STOP_POST_SUCCESS, "PUSHRESTIC_SPOOL_DIR": str(tmp_path / "spool")},
            destination=("--textfile", str(directory / "restic.prom")),
        )
        assert code == 0, stderr
        scraped = exporter.scrape()
        assert scraped.value("node_textfile_scrape_error") == 0
        assert {s.labels["step"] for s in scraped.find(STEP, location="srv")} == EXAMPLE_STEPS
        assert scraped.value("restic_backup_success", location="srv") == 1
