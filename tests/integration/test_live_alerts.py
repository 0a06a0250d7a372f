"""The alert rules fire exactly when they should, proven on a live chain.

Real restic runs are reported by pushrestic to a real Pushgateway; a real
Prometheus scrapes it every second and evaluates ``alerting/rules.yml``; a real
Alertmanager routes with ``alerting/alertmanager.yml`` and posts to a webhook
receiver in the test. A failed run must page (ResticBackupFailed) for its own
location only; a success older than 26 hours must page (ResticBackupStale).
The shipped Prometheus and Alertmanager configs must pass their own checkers.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import require_binary
from tests.integration.alert_servers import (
    ALERTING,
    Alertmanager,
    Prometheus,
    Received,
    WebhookReceiver,
)
from tests.integration.conftest import ResticLog, ResticRepo
from tests.integration.servers import Pushgateway, pushrestic

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ALERT_TIMEOUT = 90.0  # seconds from a push to the notification it must cause
INSTANCE = "backup-host.example.org"
BACKEND = "default"
CHECK_TIMEOUT = 60.0
STALE_AGE = 27 * 3600  # older than the rules' 26 hours


@dataclass(frozen=True, slots=True)
class AlertChain:
    gateway: Pushgateway
    prometheus: Prometheus
    alertmanager: Alertmanager
    receiver: WebhookReceiver
    spool: Path


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertChain]:
    """Receiver, Alertmanager, Pushgateway and Prometheus, started in that order and
    all stopped at teardown, whatever happened."""
    work = tmp_path_factory.mktemp("alert-chain")
    with ExitStack() as stack:
        receiver = stack.enter_context(WebhookReceiver())
        alertmanager = stack.enter_context(Alertmanager(work / "alertmanager", receiver.url))
        gateway = stack.enter_context(Pushgateway(work / "pushgateway"))
        prometheus = stack.enter_context(
            Prometheus(
                work / "prometheus",
                gateway=f"127.0.0.1:{gateway.port}",
                alertmanager=f"127.0.0.1:{alertmanager.port}",
            )
        )
        yield AlertChain(gateway, prometheus, alertmanager, receiver, work / "spool")


def report(chain: AlertChain, log: ResticLog, location: str, exit_code: int) -> None:
    """``pushrestic push LOG`` for ``location``, with restic's real exit code."""
    done = pushrestic(
        "push",
        str(log.path),
        "--gateway",
        chain.gateway.url,
        "--instance",
        INSTANCE,
        "--location",
        location,
        "--exit-code",
        str(exit_code),
        "--spool-dir",
        str(chain.spool),
        spool=chain.spool,
    )
    assert done.code == 0, str(done)


def backup(repo: ResticRepo, name: str, **env: str) -> ResticLog:
    return repo.log(name, "backup", "src", env_extra=env or None)


def pairs(alerts: list[Received]) -> set[tuple[str, str]]:
    return {(alert.name, alert.labels["location"]) for alert in alerts}


def active(chain: AlertChain) -> set[tuple[str, str]]:
    """(alertname, location) of every alert Prometheus and Alertmanager hold now."""
    in_prometheus = {
        (a["labels"]["alertname"], a["labels"].get("location", ""))
        for a in chain.prometheus.active_alerts()
    }
    in_alertmanager = {
        (a["labels"]["alertname"], a["labels"].get("location", ""))
        for a in chain.alertmanager.alerts()
    }
    return in_prometheus | in_alertmanager


def assert_pages_oncall(alert: Received, location: str) -> None:
    """The alert is firing, for this group, and went the critical route."""
    assert alert.status == "firing", alert.alert
    assert alert.receiver == "oncall", alert
    assert alert.labels["severity"] == "critical", alert.labels
    assert {k: alert.labels[k] for k in ("job", "instance", "location", "backend")} == {
        "job": "restic",
        "instance": INSTANCE,
        "location": location,
        "backend": BACKEND,
    }, alert.labels
    for text in alert.annotations.values():
        assert "<no value>" not in text, alert.annotations


def test_a_failed_run_pages_for_its_own_location_and_never_for_a_good_one(
    chain: AlertChain, restic_repo: ResticRepo
) -> None:
    good = backup(restic_repo, "good.log")
    assert good.exit_code == 0, good.completed.combined
    bad = backup(restic_repo, "wrong-password.log", RESTIC_PASSWORD="not-it")
    assert bad.exit_code == 1, bad.completed.combined
    # good first: every scrape that sees the failure also sees the success.
    report(chain, good, "good", good.exit_code)
    report(chain, bad, "bad", bad.exit_code)

    received = chain.receiver.wait_for(
        lambda a: a.name == "ResticBackupFailed",
        ALERT_TIMEOUT,
        "ResticBackupFailed notification",
    )

    failed = [a for a in received if a.name == "ResticBackupFailed"]
    assert {a.labels["location"] for a in failed} == {"bad"}, failed
    for alert in failed:
        assert_pages_oncall(alert, "bad")
        assert alert.annotations["summary"] == f"Backup of bad to {BACKEND} on {INSTANCE} failed"
        description = alert.annotations["description"]
        assert f"location bad to backend {BACKEND}" in description, description
        assert f"on {INSTANCE} failed with exit code 1." in description, description
        assert description.endswith("Last successful backup: never."), description
    # Prometheus evaluated the good group alongside the bad one and holds no alert for it.
    assert not {p for p in active(chain) if p[1] == "good"}, active(chain)
    assert not {p for p in pairs(chain.receiver.received()) if p[1] == "good"}


def test_a_success_older_than_26_hours_pages_as_stale(
    chain: AlertChain, restic_repo: ResticRepo
) -> None:
    old = backup(restic_repo, "old.log")
    assert old.exit_code == 0, old.completed.combined
    ended = int(time.time()) - STALE_AGE
    # pushrestic takes a restic text log's mtime as the end of the run.
    os.utime(old.path, (ended, ended))
    report(chain, old, "old", old.exit_code)

    received = chain.receiver.wait_for(
        lambda a: a.name == "ResticBackupStale" and a.labels["location"] == "old",
        ALERT_TIMEOUT,
        "ResticBackupStale notification for location old",
    )

    stale = [a for a in received if a.name == "ResticBackupStale"]
    assert {a.labels["location"] for a in stale} == {"old"}, stale
    (alert,) = stale
    assert_pages_oncall(alert, "old")
    summary = alert.annotations["summary"]
    assert re.fullmatch(
        rf"No successful backup of old to {BACKEND} on {re.escape(INSTANCE)} for 1d 3h \d+m \d+s",
        summary,
    ), summary
    last_success = datetime.fromtimestamp(ended, UTC).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")
    description = alert.annotations["description"]
    assert description.endswith(f"Last successful backup: {last_success}."), description
    assert "more than 26 hours" in description, description
    # A success is no failure: nothing else fires for the old group, nor for any group
    # that never succeeded.
    assert pairs(received) <= {("ResticBackupFailed", "bad"), ("ResticBackupStale", "old")}
    assert {p for p in active(chain) if p[1] == "old"} == {("ResticBackupStale", "old")}


def test_amtool_accepts_the_alertmanager_config() -> None:
    amtool = require_binary("amtool")
    done = subprocess.run(
        [amtool, "check-config", str(ALERTING / "alertmanager.yml")],
        capture_output=True,
        text=True,
        timeout=CHECK_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_accepts_the_prometheus_config_and_its_rules() -> None:
    promtool = require_binary("promtool")
    done = subprocess.run(
        [promtool, "check", "config", str(ALERTING / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=CHECK_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 1 rule files found" in done.stdout, done.stdout
