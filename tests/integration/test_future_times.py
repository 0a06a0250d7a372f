"""A run time from the future (a wrong clock, ``touch -d 2100 log``) never becomes the
last success time, on a real Pushgateway and in a textfile read by node_exporter."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pushrestic.model import CLOCK_SKEW_SECONDS
from tests.integration.servers import (
    FAILURE_LOG,
    SUCCESS_LOG,
    NodeExporter,
    Pushgateway,
    pushrestic,
    sample_log,
    started_node_exporter,
)

pytestmark = pytest.mark.integration

YEAR_2100 = 4_102_444_800.0  # touch -d 2100-01-01
LAST_SUCCESS = "restic_backup_last_success_timestamp_seconds"
LAST_RUN = "restic_backup_last_run_timestamp_seconds"
GROUP = {"job": "restic", "instance": "host", "location": "default", "backend": "default"}


@pytest.fixture
def exporter(tmp_path: Path) -> Iterator[NodeExporter]:
    directory = tmp_path / "textfile"
    directory.mkdir()
    with started_node_exporter(tmp_path / "node-exporter", directory) as started:
        yield started


def test_a_log_with_a_future_mtime_then_a_failure_leaves_no_future_last_success_on_the_gateway(
    gateway: Pushgateway, tmp_path: Path
) -> None:
    spool, logs = tmp_path / "spool", tmp_path / "logs"
    target = ("--gateway", gateway.url, "--instance", "host")
    before = time.time()
    future = pushrestic("push", *target, str(sample_log(SUCCESS_LOG, logs, YEAR_2100)), spool=spool)
    assert future.code == 0, future
    assert "2100-01-01" in future.stderr, "the log says why the time was not taken"
    first = gateway.pushed().value(LAST_SUCCESS, **GROUP)
    assert first is not None
    assert before <= first <= time.time()

    failed = sample_log(FAILURE_LOG, logs, time.time())
    done = pushrestic("push", *target, "--exit-code", "1", str(failed), spool=spool)
    assert done.code == 0, done

    after = gateway.pushed()
    assert after.value("restic_backup_success", **GROUP) == 0
    last_success = after.value(LAST_SUCCESS, **GROUP)
    assert last_success is not None
    assert last_success <= time.time() + CLOCK_SKEW_SECONDS
    assert last_success == first


def test_a_log_with_a_future_mtime_then_a_failure_leaves_no_future_last_success_in_the_textfile(
    exporter: NodeExporter, tmp_path: Path
) -> None:
    spool, logs = tmp_path / "spool", tmp_path / "logs"
    target = ("--textfile", str(exporter.directory / "restic.prom"))
    future = pushrestic("push", *target, str(sample_log(SUCCESS_LOG, logs, YEAR_2100)), spool=spool)
    assert future.code == 0, future
    failed = sample_log(FAILURE_LOG, logs, time.time())
    done = pushrestic("push", *target, "--exit-code", "1", str(failed), spool=spool)
    assert done.code == 0, done

    scraped = exporter.scrape()
    assert scraped.value("restic_backup_success", location="default") == 0
    last_success = scraped.value(LAST_SUCCESS, location="default", backend="default")
    assert last_success is not None
    assert last_success <= time.time() + CLOCK_SKEW_SECONDS
    last_run = scraped.value(LAST_RUN, location="default", backend="default")
    assert last_run is not None
    assert last_run <= time.time() + CLOCK_SKEW_SECONDS
