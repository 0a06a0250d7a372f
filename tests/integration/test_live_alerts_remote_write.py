"""The remote-write rules fire exactly when they should, on both real evaluators.

pushrestic writes sample runs by remote-write into VictoriaMetrics (``vmalert``
evaluates ``alerting/rules-remote-write.yml`` over it) and into Prometheus'
receiver (which evaluates the same file itself): a healthy group on each of two
hosts, a failed run, a success whose run ended 27 hours ago (written now), and a
host whose last write was 27 hours ago (a success then, written with samples
stamped then, by pushrestic's own remote-write code). Each evaluator must fire
ResticBackupFailed for the failure, ResticBackupStale for both old successes,
and nothing else, with annotations whose queries found their values.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.integration.alert_servers import WebhookReceiver
from tests.integration.rule_servers import (
    Alert,
    EvaluatingPrometheus,
    Evaluator,
    Vmalert,
    firing,
    pending_or_firing,
    write_at,
)
from tests.integration.servers import (
    FAILURE_LOG,
    SUCCESS_LOG,
    VictoriaMetrics,
    sample_log,
    start_pushrestic,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ALERT_TIMEOUT = 60.0  # seconds from the writes to every expected alert firing
SETTLE = 3.0  # seconds of further evaluations (every second) in which nothing else may fire
HOUR = 3600.0
OLD = 27 * HOUR  # older than the rules' 26 hours
BACKEND = "local"
EXPECTED = {
    ("ResticBackupFailed", ("h1", "failed", BACKEND)),
    ("ResticBackupStale", ("h1", "old-success", BACKEND)),
    ("ResticBackupStale", ("h2", "silent", BACKEND)),
}


@dataclass(frozen=True, slots=True)
class Written:
    evaluator: Evaluator
    ended: dict[str, float]  # location -> when its run ended


@dataclass(frozen=True, slots=True)
class Report:
    log: str
    instance: str
    location: str
    exit_code: int
    ago: float


# Written now by `pushrestic push --remote-write`, all at once.
NOW = (
    Report(SUCCESS_LOG, "h1", "healthy", 0, HOUR),
    Report(SUCCESS_LOG, "h3", "healthy", 0, 2 * HOUR),
    Report(FAILURE_LOG, "h1", "failed", 1, 600),
    Report(SUCCESS_LOG, "h1", "old-success", 0, OLD),
)
SILENT = Report(SUCCESS_LOG, "h2", "silent", 0, OLD)  # written with samples stamped then


def write(url: str, work: Path) -> dict[str, float]:
    """Every report: the silent host's first (stamped 27 hours ago), then the others now."""
    now = time.time()
    ended = {}
    log = sample_log(SILENT.log, work / "logs", now - SILENT.ago, "silent.log")
    write_at(
        url,
        log,
        instance=SILENT.instance,
        location=SILENT.location,
        backend=BACKEND,
        exit_code=SILENT.exit_code,
        at=now - SILENT.ago,
    )
    ended[SILENT.location] = now - SILENT.ago
    processes = []
    for index, report in enumerate(NOW):
        log = sample_log(report.log, work / "logs", now - report.ago, f"{index}-{report.log}")
        ended[report.location] = now - report.ago
        processes.append(
            start_pushrestic(
                "push",
                str(log),
                "--remote-write",
                url,
                "--instance",
                report.instance,
                "--location",
                report.location,
                "--backend",
                BACKEND,
                "--exit-code",
                str(report.exit_code),
                "--spool-dir",
                str(work / "spool" / report.instance),
                spool=work / "spool" / report.instance,
            )
        )
    for process in processes:
        done = process.finish()
        assert done.code == 0, str(done)
    return ended


@pytest.fixture(scope="module", params=["vmalert", "prometheus"])
def written(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Written]:
    """An evaluator over a database that holds every report."""
    work = tmp_path_factory.mktemp(f"rules-{request.param}")
    with ExitStack() as stack:
        evaluator: Evaluator
        if request.param == "vmalert":
            receiver = stack.enter_context(WebhookReceiver())
            database = stack.enter_context(VictoriaMetrics(work / "vm"))
            ended = write(database.write_url, work)
            evaluator = stack.enter_context(Vmalert(work / "vmalert", database, receiver.url))
        else:
            prometheus = stack.enter_context(EvaluatingPrometheus(work / "prometheus"))
            ended = write(prometheus.write_url, work)
            evaluator = prometheus
        yield Written(evaluator, ended)


def wait_for_expected(evaluator: Evaluator) -> list[Alert]:
    deadline = time.monotonic() + ALERT_TIMEOUT
    while True:
        alerts = firing(evaluator)
        if {(a.name, a.group) for a in alerts} >= EXPECTED:
            return alerts
        if time.monotonic() > deadline:
            raise AssertionError(
                f"not every expected alert fired within {ALERT_TIMEOUT} s: "
                f"{pending_or_firing(evaluator)}\n{evaluator.log()}"
            )
        time.sleep(0.5)


def humanized(moment: float) -> str:
    """A time as the templates' humanizeTimestamp writes it."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S")


def test_failed_and_stale_groups_fire_and_healthy_ones_do_not(written: Written) -> None:
    wait_for_expected(written.evaluator)
    time.sleep(SETTLE)  # more evaluations: nothing else appears, not even pending
    held = written.evaluator.alerts()
    assert {
        (a["labels"]["alertname"], (a["labels"]["instance"], a["labels"]["location"], BACKEND))
        for a in held
    } == EXPECTED, pending_or_firing(written.evaluator)


def test_the_failure_names_its_exit_code_and_that_it_never_succeeded(written: Written) -> None:
    alerts = wait_for_expected(written.evaluator)
    (alert,) = [a for a in alerts if a.name == "ResticBackupFailed"]
    assert alert.labels["severity"] == "critical"
    assert alert.labels["job"] == "restic"
    assert alert.annotations["summary"] == f"Backup of failed to {BACKEND} on h1 failed"
    assert alert.annotations["description"] == (
        f"The last backup run of location failed to backend {BACKEND} on h1 failed with exit "
        "code 1. Last successful backup: never."
    )


@pytest.mark.parametrize(("instance", "location"), [("h1", "old-success"), ("h2", "silent")])
def test_a_success_27_hours_old_is_stale_whether_written_now_or_then(
    written: Written, instance: str, location: str
) -> None:
    alerts = wait_for_expected(written.evaluator)
    (alert,) = [
        a for a in alerts if a.name == "ResticBackupStale" and a.group[:2] == (instance, location)
    ]
    assert alert.labels["severity"] == "critical"
    summary = alert.annotations["summary"]
    assert re.fullmatch(
        rf"No successful backup of {location} to {BACKEND} on {instance} for 1d 3h \d+m \d+s",
        summary,
    ), summary
    description = alert.annotations["description"]
    ended = humanized(written.ended[location])
    assert re.search(rf"Last successful backup: {ended}(\.\d+)? \+0000 UTC\.$", description), (
        description,
        ended,
    )
