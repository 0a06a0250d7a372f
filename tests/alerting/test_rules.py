"""The alert rules: generated from one definition, valid, unit-tested by promtool
(and vmalert), and written against the catalogue, for both back ends."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerting import generate
from pushrestic.metrics import METRIC_NAMES
from tests.conftest import require_binary

ALERTING = Path(__file__).parents[2] / "alerting"
RULES = {"pushgateway": "rules.yml", "remote-write": "rules-remote-write.yml"}
TESTS = {"pushgateway": "tests.yml", "remote-write": "tests-remote-write.yml"}
REQUIRED = {
    "ResticBackupFailed": "critical",
    "ResticBackupPartial": "warning",
    "ResticBackupStale": "critical",
    "ResticBackupMetricsAbsent": "warning",
    "ResticReporterPushFailing": "warning",
    "ResticCheckFailed": "critical",
    "ResticSnapshotStale": "warning",
}
# Only a Pushgateway records pushes: remote-write has nothing to read them from.
PUSHGATEWAY_ONLY = {"ResticReporterPushFailing"}
# Series the Pushgateway itself exposes for every group.
GATEWAY_SERIES = {"push_time_seconds", "push_failure_time_seconds"}
METRIC = re.compile(r"\b((?:restic|pushrestic|push)_[a-z_]+)\b")
BACKENDS = list(RULES)


def rules(backend: str) -> list[dict[str, Any]]:
    document = yaml.safe_load((ALERTING / RULES[backend]).read_text())
    (group,) = document["groups"]
    found: list[dict[str, Any]] = group["rules"]
    return found


def every_rule() -> list[tuple[str, dict[str, Any]]]:
    return [(backend, rule) for backend in BACKENDS for rule in rules(backend)]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_binary("promtool"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# -- one definition -------------------------------------------------------------


@pytest.mark.parametrize("backend", generate.BACKENDS, ids=lambda b: b.file)
def test_the_committed_rules_are_what_the_generator_writes(backend: generate.Backend) -> None:
    assert (ALERTING / backend.file).read_text(encoding="utf-8") == generate.render(backend), (
        f"alerting/{backend.file} is out of date: run python3 alerting/generate.py"
    )


def test_generate_check_passes_on_the_committed_files() -> None:
    done = subprocess.run(
        [sys.executable, str(ALERTING / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_generate_writes_both_files_and_check_fails_once_one_differs(tmp_path: Path) -> None:
    assert generate.main(["--check", "--directory", str(tmp_path)]) == 1  # missing
    assert generate.main(["--directory", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(RULES.values())
    assert generate.main(["--check", "--directory", str(tmp_path)]) == 0
    changed = tmp_path / "rules-remote-write.yml"
    changed.write_text(changed.read_text().replace("30d", "31d"))
    assert generate.main(["--check", "--directory", str(tmp_path)]) == 1


def test_both_renderings_hold_the_same_alerts_but_the_pushgateways_own() -> None:
    pushgateway = [rule["alert"] for rule in rules("pushgateway")]
    remote_write = [rule["alert"] for rule in rules("remote-write")]
    assert remote_write == [name for name in pushgateway if name not in PUSHGATEWAY_ONLY]
    for one, other in zip(rules("remote-write"), rules("pushgateway")[:2], strict=False):
        assert one["labels"] == other["labels"]
        assert one["annotations"]["summary"] == other["annotations"]["summary"]


# -- valid, and tested ------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_promtool_accepts_the_rules(backend: str) -> None:
    done = promtool("check", "rules", str(ALERTING / RULES[backend]))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("backend", BACKENDS)
def test_promtool_unit_tests_pass(backend: str) -> None:
    done = promtool("test", "rules", str(ALERTING / TESTS[backend]))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_vmalert_accepts_the_remote_write_rules_and_their_templates(tmp_path: Path) -> None:
    vmalert = require_binary("vmalert")
    command = [vmalert, "-dryRun", "-rule.validateTemplates", "-rule.validateExpressions"]
    done = subprocess.run(
        [*command, f"-rule={ALERTING / RULES['remote-write']}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(
        (ALERTING / RULES["remote-write"])
        .read_text()
        .replace("restic_backup_success[30d])", "restic_backup_success[30d]")
    )
    done = subprocess.run(
        [*command, f"-rule={broken}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode != 0, "vmalert -dryRun does find a broken expression"


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_alert_has_a_firing_case_in_the_unit_tests(backend: str) -> None:
    tests = yaml.safe_load((ALERTING / TESTS[backend]).read_text())["tests"]
    firing = {
        case["alertname"]
        for test in tests
        for case in test["alert_rule_test"]
        if case.get("exp_alerts")
    }
    assert firing == {rule["alert"] for rule in rules(backend)}


def test_the_remote_write_unit_tests_feed_one_sample_per_run() -> None:
    """No continuous series: each input is single values, or gaps (``_``) between them,
    never a value repeated every interval (``1x10``) as a scrape would make it, unless
    one run a day is fed with a one-day interval."""
    tests = yaml.safe_load((ALERTING / TESTS["remote-write"]).read_text())["tests"]
    for test in tests:
        for series in test["input_series"]:
            if series["series"].startswith("up{"):
                continue
            repeated = re.findall(r"x(\d+)", series["values"])
            if repeated and not series["values"].startswith("_"):
                assert test["interval"] in ("1h", "1d"), (test["interval"], series)


# -- written against the catalogue ------------------------------------------------


def test_every_required_alert_exists_with_its_severity() -> None:
    for backend in BACKENDS:
        severities = {rule["alert"]: rule["labels"]["severity"] for rule in rules(backend)}
        required = (
            REQUIRED
            if backend == "pushgateway"
            else {name: level for name, level in REQUIRED.items() if name not in PUSHGATEWAY_ONLY}
        )
        for name, severity in required.items():
            assert severities.get(name) == severity, (backend, name)
        assert set(severities.values()) <= {"critical", "warning"}
        extra = set(severities) - set(REQUIRED)
        assert all(severities[name] == "warning" for name in extra), "added alerts are warnings"


@pytest.mark.parametrize(
    ("backend", "rule"), every_rule(), ids=lambda x: x if isinstance(x, str) else x["alert"]
)
def test_every_alert_names_the_group_and_the_last_success(
    backend: str, rule: dict[str, Any]
) -> None:
    annotations = rule["annotations"]
    assert set(annotations) >= {"summary", "description"}
    assert "Last successful backup" in annotations["description"]
    if rule["alert"] != "ResticBackupMetricsAbsent":  # no group to name when nothing exists
        for label in ("instance", "location", "backend"):
            assert f"$labels.{label}" in annotations["summary"] + annotations["description"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_metric_named_in_the_rules_is_in_the_catalogue(backend: str) -> None:
    text = "\n".join(
        part for rule in rules(backend) for part in (rule["expr"], *rule["annotations"].values())
    )
    named = set(METRIC.findall(text))
    assert named, "the rules name metrics"
    known = set(METRIC_NAMES) | (GATEWAY_SERIES if backend == "pushgateway" else set())
    assert not named - known, f"not in the catalogue: {sorted(named - known)}"


@pytest.mark.parametrize(
    ("backend", "rule"), every_rule(), ids=lambda x: x if isinstance(x, str) else x["alert"]
)
def test_the_snapshot_alert_names_the_host_paths_and_tags_restic_grouped_by(
    backend: str, rule: dict[str, Any]
) -> None:
    if rule["alert"] != "ResticSnapshotStale":
        return
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


# -- one sample per run -----------------------------------------------------------

_RANGE = re.compile(r"\b(\w+)\((restic_\w+|pushrestic_\w+)(?:\{[^}]*\})?\[(\d+)([hd])\]\)")


def hours(amount: str, unit: str) -> int:
    return int(amount) * (24 if unit == "d" else 1)


@pytest.mark.parametrize("rule", rules("remote-write"), ids=lambda rule: str(rule["alert"]))
def test_every_remote_write_selector_reads_a_range_not_the_last_five_minutes(
    rule: dict[str, Any],
) -> None:
    """A bare selector sees a sample for five minutes after it was written: every metric
    in an expression and in an annotation's query is read over a range."""
    description = rule["annotations"]["description"]
    queries = re.findall(r'printf "([^"]*)"', description)
    for text in (rule["expr"], *queries):
        named = METRIC.findall(text)
        ranged = [metric for _, metric, _, _ in _RANGE.findall(text)]
        assert sorted(named) == sorted(ranged), (rule["alert"], text)


@pytest.mark.parametrize("rule", rules("remote-write"), ids=lambda rule: str(rule["alert"]))
def test_the_last_run_of_a_group_silent_for_27_hours_is_still_seen(rule: dict[str, Any]) -> None:
    for function, metric, amount, unit in _RANGE.findall(rule["expr"]):
        if function in ("last_over_time", "absent_over_time") and (
            function,
            metric,
            amount + unit,
        ) != ("last_over_time", "restic_snapshots_latest_timestamp_seconds", "27h"):
            assert hours(amount, unit) >= 27, (rule["alert"], function, metric)
        if function == "last_over_time" and amount + unit != "7d":
            assert amount + unit in (generate.LOOKBACK, generate.FRESH), rule["alert"]
