"""The alert rules: valid, unit-tested by promtool, and written against the catalogue."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from pushrestic.metrics import METRIC_NAMES
from tests.conftest import require_binary

ALERTING = Path(__file__).parents[2] / "alerting"
REQUIRED = {
    "ResticBackupFailed": "critical",
    "ResticBackupPartial": "warning",
    "ResticBackupStale": "critical",
    "ResticBackupMetricsAbsent": "warning",
    "ResticReporterPushFailing": "warning",
    "ResticCheckFailed": "critical",
    "ResticSnapshotStale": "warning",
}
# Series the Pushgateway itself exposes for every group.
GATEWAY_SERIES = {"push_time_seconds", "push_failure_time_seconds"}


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load((ALERTING / "rules.yml").read_text())
    (group,) = document["groups"]
    found: list[dict[str, Any]] = group["rules"]
    return found


def test_promtool_accepts_the_rules() -> None:
    promtool = require_binary("promtool")
    done = subprocess.run(
        [promtool, "check", "rules", str(ALERTING / "rules.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_unit_tests_pass() -> None:
    promtool = require_binary("promtool")
    done = subprocess.run(
        [promtool, "test", "rules", str(ALERTING / "tests.yml")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_required_alert_exists_with_its_severity() -> None:
    severities = {rule["alert"]: rule["labels"]["severity"] for rule in rules()}
    for name, severity in REQUIRED.items():
        assert severities.get(name) == severity, name
    assert set(severities.values()) <= {"critical", "warning"}
    extra = set(severities) - set(REQUIRED)
    assert all(severities[name] == "warning" for name in extra), "added alerts are warnings"


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: str(rule["alert"]))
def test_every_alert_names_the_group_and_the_last_success(rule: dict[str, Any]) -> None:
    annotations = rule["annotations"]
    assert set(annotations) >= {"summary", "description"}
    assert "Last successful backup" in annotations["description"]
    if rule["alert"] != "ResticBackupMetricsAbsent":  # no group to name when nothing exists
        for label in ("instance", "location", "backend"):
            assert f"$labels.{label}" in annotations["summary"] + annotations["description"]


def test_every_metric_named_in_the_rules_is_in_the_catalogue() -> None:
    text = (ALERTING / "rules.yml").read_text()
    named = set(re.findall(r"\b((?:restic|pushrestic|push)_[a-z_]+)\b", text))
    assert named, "the rules name metrics"
    unknown = named - set(METRIC_NAMES) - GATEWAY_SERIES
    assert not unknown, f"not in the catalogue: {sorted(unknown)}"


def test_every_alert_has_a_firing_case_in_the_unit_tests() -> None:
    tests = yaml.safe_load((ALERTING / "tests.yml").read_text())["tests"]
    firing = {
        case["alertname"]
        for test in tests
        for case in test["alert_rule_test"]
        if case.get("exp_alerts")
    }
    assert firing == {rule["alert"] for rule in rules()}


def test_the_snapshot_alert_names_the_host_paths_and_tags_restic_grouped_by() -> None:
    (rule,) = [rule for rule in rules() if rule["alert"] == "ResticSnapshotStale"]
    assert "restic_snapshots_latest_timestamp_seconds" in rule["expr"]
    assert "93600" in rule["expr"], "the same 26 hours as ResticBackupStale"
    assert "$labels.snapshot_hostname" in rule["annotations"]["summary"]
    for label in ("snapshot_paths", "snapshot_tags"):
        assert f"$labels.{label}" in rule["annotations"]["description"]
    labels = set(re.findall(r"([a-z_]+)=%q", rule["annotations"]["description"]))
    assert labels == {
        "job",
        "instance",
        "location",
        "backend",
        "snapshot_hostname",
        "snapshot_paths",
        "snapshot_tags",
    }, "the query selects exactly the alert's series"
