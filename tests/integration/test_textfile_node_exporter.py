"""pushrestic's textfile read by a real node_exporter (textfile collector only)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pushrestic.cli import EXIT_TEXTFILE
from tests.cli import Ran
from tests.integration.servers import (
    AUTORESTIC_GROUPS,
    AUTORESTIC_LOG,
    FAILURE_LOG,
    SUCCESS_LOG,
    Exposition,
    NodeExporter,
    pushrestic,
    sample_log,
    started_node_exporter,
)

pytestmark = pytest.mark.integration

T1 = 1_760_000_000.25
T2 = T1 + 3600
SUCCESS = "restic_backup_success"
LAST_SUCCESS = "restic_backup_last_success_timestamp_seconds"
SCRAPE_ERROR = "node_textfile_scrape_error"
JSON_LOG = "restic-0.14-backup-json-initial.jsonl"
LOCK = ".restic.prom.lock"  # the writers' flock file: hidden, and not *.prom


@dataclass(frozen=True, slots=True)
class Textfile:
    directory: Path
    exporter: NodeExporter

    @property
    def path(self) -> Path:
        return self.directory / "restic.prom"

    def scrape(self) -> Exposition:
        scraped = self.exporter.scrape()
        assert scraped.value(SCRAPE_ERROR) == 0, scraped.find("node_textfile_mtime_seconds")
        return scraped

    def leftovers(self) -> list[str]:
        """Files in the directory other than the textfile and its lock file."""
        return sorted(
            p.name for p in self.directory.iterdir() if p.name not in {"restic.prom", LOCK}
        )


@pytest.fixture
def textfile(tmp_path: Path) -> Iterator[Textfile]:
    directory = tmp_path / "textfile"
    directory.mkdir()
    with started_node_exporter(tmp_path / "node-exporter", directory) as exporter:
        yield Textfile(directory, exporter)


def push(textfile: Textfile, log: Path, *args: str, spool: Path) -> Ran:
    done = pushrestic("push", "--textfile", str(textfile.path), *args, str(log), spool=spool)
    assert done.code == 0, done
    return done


def test_node_exporter_shows_every_series_with_its_labels(
    textfile: Textfile, tmp_path: Path
) -> None:
    push(
        textfile,
        sample_log(AUTORESTIC_LOG, tmp_path, T1),
        "--label",
        "env=prod é",
        spool=tmp_path / "spool",
    )

    scraped = textfile.scrape()
    assert scraped.where(env="prod é").groups() == AUTORESTIC_GROUPS
    assert scraped.value(SUCCESS, location="documents", backend="local", env="prod é") == 1
    assert scraped.value(SUCCESS, location="mixed", backend="local") == 0
    assert scraped.value("restic_backup_exit_code", location="mixed", backend="local") == 3
    assert scraped.value(LAST_SUCCESS, location="config", backend="local") == T1
    assert scraped.value(LAST_SUCCESS, location="mixed", backend="local") is None
    assert scraped.value("restic_backup_errors", location="mixed", backend="local") == 2
    assert scraped.find("restic_backup_success", job="restic") == []  # no grouping labels here
    assert textfile.leftovers() == []


def test_a_failed_run_keeps_the_previous_last_success_time(
    textfile: Textfile, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    push(textfile, sample_log(SUCCESS_LOG, tmp_path, T1), spool=spool)
    assert textfile.scrape().value("restic_backup_files", state="new") == 17

    push(textfile, sample_log(FAILURE_LOG, tmp_path, T2), "--exit-code", "1", spool=spool)

    scraped = textfile.scrape()
    assert scraped.value(SUCCESS, location="default", backend="default") == 0
    assert scraped.value("restic_backup_exit_code", location="default") == 1
    assert scraped.value("restic_backup_last_run_timestamp_seconds", location="default") == T2
    assert scraped.value(LAST_SUCCESS, location="default", backend="default") == T1
    assert scraped.find("restic_backup_files") == []
    assert textfile.leftovers() == []


def test_a_second_locations_push_keeps_the_firsts_series(
    textfile: Textfile, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    push(textfile, sample_log(SUCCESS_LOG, tmp_path, T1), "--location", "first", spool=spool)
    first = textfile.scrape().where(location="first").series()

    push(
        textfile,
        sample_log(FAILURE_LOG, tmp_path, T2),
        "--location",
        "second",
        "--exit-code",
        "1",
        spool=spool,
    )

    scraped = textfile.scrape()
    assert scraped.groups() == {("first", "default"), ("second", "default")}
    assert scraped.where(location="first").series() == first
    assert scraped.value(SUCCESS, location="second") == 0
    assert textfile.leftovers() == []


def test_node_exporter_never_reads_half_a_file_and_no_temporary_file_is_left_behind(
    textfile: Textfile, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    push(textfile, sample_log(AUTORESTIC_LOG, tmp_path, T1), spool=spool)
    errors: list[float | None] = []
    stop = threading.Event()

    def scrape_until_stopped() -> None:
        while not stop.is_set():
            errors.append(textfile.exporter.scrape().value(SCRAPE_ERROR))

    scraper = threading.Thread(target=scrape_until_stopped, daemon=True)
    scraper.start()
    try:
        for round_ in range(4):
            log = sample_log(AUTORESTIC_LOG, tmp_path, T1 + round_ * 60)
            push(textfile, log, spool=spool)
            assert textfile.leftovers() == []
    finally:
        stop.set()
        scraper.join(timeout=10)

    assert errors, "node_exporter was never scraped during the writes"
    assert set(errors) == {0}
    assert textfile.scrape().groups() == AUTORESTIC_GROUPS
    assert textfile.leftovers() == []


def json_log_with_snapshot(directory: Path, snapshot_id: str, ended_at: float) -> Path:
    """restic's JSON backup output whose summary names ``snapshot_id``."""
    path = sample_log(JSON_LOG, directory, ended_at)
    lines = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record.get("message_type") == "summary":
            record["snapshot_id"] = snapshot_id
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n")
    os.utime(path, (ended_at, ended_at))
    return path


def test_a_carriage_return_in_a_location_and_a_snapshot_id_keeps_every_other_group(
    textfile: Textfile, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    push(textfile, sample_log(SUCCESS_LOG, tmp_path, T1), "--location", "first", spool=spool)
    first = textfile.scrape().where(location="first").series()

    log = json_log_with_snapshot(tmp_path / "json", "1c801e48\r", T2)
    push(textfile, log, "--location", "car\rriage", spool=spool)
    push(
        textfile,
        sample_log(FAILURE_LOG, tmp_path, T2),
        "--location",
        "third",
        "--exit-code",
        "1",
        spool=spool,
    )

    scraped = textfile.scrape()
    assert scraped.groups() == {
        ("first", "default"),
        ("car\rriage", "default"),
        ("third", "default"),
    }
    assert scraped.where(location="first").series() == first
    assert scraped.value(SUCCESS, location="car\rriage") == 1
    (info,) = scraped.find("restic_backup_info", location="car\rriage")
    assert info.labels["snapshot_id"] == "1c801e48\r"
    assert textfile.leftovers() == []


def test_a_textfile_that_cannot_be_parsed_is_kept_aside_and_the_new_groups_written(
    textfile: Textfile, tmp_path: Path
) -> None:
    broken = b'restic_backup_success{location="half\n'
    textfile.path.write_bytes(broken)

    done = push(textfile, sample_log(SUCCESS_LOG, tmp_path, T1), spool=tmp_path / "spool")

    (kept,) = textfile.leftovers()
    assert kept.startswith("restic.prom.broken-")
    assert (textfile.directory / kept).read_bytes() == broken
    assert str(textfile.directory / kept) in done.stderr
    scraped = textfile.scrape()  # no scrape error: node_exporter does not read the kept file
    assert scraped.value(SUCCESS, location="default", backend="default") == 1


def test_a_fifo_at_the_textfile_path_is_refused_without_hanging(
    textfile: Textfile, tmp_path: Path
) -> None:
    os.mkfifo(textfile.path)
    done = pushrestic(
        "push",
        "--textfile",
        str(textfile.path),
        str(sample_log(SUCCESS_LOG, tmp_path, T1)),
        spool=tmp_path / "spool",
        timeout=30,
    )
    assert done.code == EXIT_TEXTFILE, done
    assert f"{textfile.path}: not a regular file" in done.stderr
