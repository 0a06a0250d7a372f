"""Real restic 0.14 ``stats`` and ``snapshots --json`` through pushrestic, against the truth.

Two hosts back up one source tree into one repository (a once, b twice). What
pushrestic reports for ``restic stats`` (restore-size and raw-data, ``--json``
and text) and ``restic snapshots --json`` (plain, ``--group-by host``,
``--latest 1``) is checked against the tree itself and against the snapshots
restic lists; then the output is piped into ``pushrestic push`` as a cron job
would, and into a real Pushgateway, and read back.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import (
    PUSH_TIMEOUT,
    RepositoryScenario,
    push_dry_run,
    restic_rounding,
    snapshot_time,
)
from tests.integration.servers import (
    SUCCESS_LOG,
    Pushgateway,
    pushrestic,
    sample_log,
)

pytestmark = pytest.mark.integration

STATS = {"location": "default", "backend": "default", "operation": "stats"}
SNAPSHOTS = {"location": "default", "backend": "default", "operation": "snapshots"}


def latest_by_host(scenario: RepositoryScenario) -> dict[str, float]:
    latest: dict[str, float] = {}
    for snapshot in scenario.snapshots:
        host = snapshot["hostname"]
        latest[host] = max(latest.get(host, 0.0), snapshot_time(snapshot))
    return latest


def source_path(scenario: RepositoryScenario) -> str:
    """The one path every snapshot holds (restic stores it absolute)."""
    (path,) = {str(p) for snapshot in scenario.snapshots for p in snapshot["paths"]}
    assert path == str(scenario.repo.work / "src")
    return path


def group(scenario: RepositoryScenario, host: str) -> dict[str, str]:
    paths = source_path(scenario)
    return {"snapshot_hostname": host, "snapshot_paths": paths, "snapshot_tags": "", **SNAPSHOTS}


# -- restic stats -----------------------------------------------------------------


def test_stats_json_in_restore_size_mode_counts_every_snapshots_files(
    repository_reports: RepositoryScenario,
) -> None:
    result = push_dry_run(repository_reports.logs["stats.json"].path)
    assert result.exit_code == 0, result.stderr
    tree = repository_reports.tree
    mode = {"mode": "restore-size", **STATS}
    # restore-size adds up every snapshot as it would be restored: three snapshots of the
    # tree, whose every node (file or directory, the root included) restic counts.
    assert result.value("restic_stats_size_bytes", **mode) == 3 * tree.size
    assert result.value("restic_stats_files", **mode) == 3 * (tree.files + tree.dirs)
    assert result.value("restic_stats_snapshots", **mode) == 3
    assert result.value("restic_stats_blobs", **mode) is None
    assert not [name for name, _ in result.metrics if name.startswith("restic_backup_")]


def test_stats_json_in_raw_data_mode_reports_restics_blob_count_and_size(
    repository_reports: RepositoryScenario,
) -> None:
    log = repository_reports.logs["stats-raw-data.json"]
    truth = json.loads(log.completed.stdout)
    result = push_dry_run(log.path)
    assert result.exit_code == 0, result.stderr
    mode = {"mode": "raw-data", **STATS}
    assert result.value("restic_stats_size_bytes", **mode) == truth["total_size"]
    assert result.value("restic_stats_blobs", **mode) == truth["total_blob_count"] > 0
    assert result.value("restic_stats_snapshots", **mode) == 3
    assert result.value("restic_stats_files", **mode) is None
    # The same tree three times is stored once: the blobs hold little more than one tree.
    assert repository_reports.tree.size <= truth["total_size"] < 2 * repository_reports.tree.size


@pytest.mark.parametrize(
    ("text", "json_"), [("stats.log", "stats.json"), ("stats-raw-data.log", "stats-raw-data.json")]
)
def test_stats_text_agrees_with_the_json_within_restics_rounding(
    repository_reports: RepositoryScenario, text: str, json_: str
) -> None:
    from_text = push_dry_run(repository_reports.logs[text].path)
    from_json = push_dry_run(repository_reports.logs[json_].path)
    assert from_text.exit_code == from_json.exit_code == 0
    assert set(from_text.metrics) == set(from_json.metrics)
    for key, value in from_json.metrics.items():
        if key[0] == "restic_stats_size_bytes":
            assert abs(from_text.metrics[key] - value) <= restic_rounding(int(value))
        elif key[0] != "restic_stats_last_run_timestamp_seconds":
            assert from_text.metrics[key] == value, key


def test_both_stats_modes_piped_together_are_one_group_with_both_modes(
    repository_reports: RepositoryScenario, tmp_path: Path
) -> None:
    logs = repository_reports.logs
    both = tmp_path / "both.json"
    both.write_text(
        logs["stats.json"].completed.stdout + logs["stats-raw-data.json"].completed.stdout
    )
    result = push_dry_run(both)
    assert result.exit_code == 0, result.stderr
    assert {labels["mode"] for labels in result.series("restic_stats_size_bytes")} == {
        "restore-size",
        "raw-data",
    }


# -- restic snapshots --json ---------------------------------------------------------


def test_snapshots_json_reports_each_hosts_latest_snapshot_and_count(
    repository_reports: RepositoryScenario,
) -> None:
    result = push_dry_run(repository_reports.logs["snapshots.json"].path)
    assert result.exit_code == 0, result.stderr
    latest = latest_by_host(repository_reports)
    assert set(latest) == {"a", "b"}
    for host, count in (("a", 1), ("b", 2)):
        found = result.value(
            "restic_snapshots_latest_timestamp_seconds", **group(repository_reports, host)
        )
        assert found == pytest.approx(latest[host], abs=1e-6)
        assert (
            result.value("restic_snapshots_group_listed", **group(repository_reports, host))
            == count
        )
    assert result.value("restic_snapshots_listed", **SNAPSHOTS) == 3
    assert len(result.series("restic_snapshots_group_listed")) == 2


def test_snapshots_json_grouped_by_host_leaves_the_paths_empty(
    repository_reports: RepositoryScenario,
) -> None:
    result = push_dry_run(repository_reports.logs["snapshots-group-by-host.json"].path)
    assert result.exit_code == 0, result.stderr
    latest = latest_by_host(repository_reports)
    for host in ("a", "b"):
        # Empty paths and tags (no label at all to Prometheus): restic grouped by host only.
        labels = {"snapshot_hostname": host, "snapshot_paths": "", "snapshot_tags": ""}
        value = result.value("restic_snapshots_latest_timestamp_seconds", **labels, **SNAPSHOTS)
        assert value == pytest.approx(latest[host], abs=1e-6)
        assert result.value("restic_snapshots_group_listed", **labels, **SNAPSHOTS) == (
            1 if host == "a" else 2
        )


def test_snapshots_json_latest_1_lists_one_snapshot_per_host_and_paths(
    repository_reports: RepositoryScenario,
) -> None:
    result = push_dry_run(repository_reports.logs["snapshots-latest.json"].path)
    assert result.exit_code == 0, result.stderr
    assert result.value("restic_snapshots_group_listed", **group(repository_reports, "a")) == 1
    assert result.value("restic_snapshots_group_listed", **group(repository_reports, "b")) == 1
    assert result.value("restic_snapshots_listed", **SNAPSHOTS) == 2
    latest = latest_by_host(repository_reports)
    found = result.value(
        "restic_snapshots_latest_timestamp_seconds", **group(repository_reports, "b")
    )
    assert found == pytest.approx(latest["b"], abs=1e-6)


def test_restic_snapshots_piped_into_pushrestic_push_is_reported(
    repository_reports: RepositoryScenario, tmp_path: Path
) -> None:
    """``restic snapshots --json --latest 1 | pushrestic push --location repo``, as the
    cron example runs it (--dry-run: printed instead of pushed)."""
    repo = repository_reports.repo
    restic = subprocess.Popen(
        repo.command(("snapshots", "--json", "--latest", "1")),
        cwd=repo.work,
        env=repo.environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
    )
    assert restic.stdout is not None
    try:
        push = pushrestic(
            "push", "--dry-run", "--location", "repo",
            stdin=restic.stdout, spool=tmp_path / "spool", timeout=PUSH_TIMEOUT,
        )  # fmt: skip
    finally:
        restic.stdout.close()
        assert restic.wait(timeout=PUSH_TIMEOUT) == 0
    assert push.code == 0, push.stderr
    assert (
        'restic_snapshots_listed{backend="default",location="repo",operation="snapshots"} 2.0'
        in push.stdout
    )


# -- into a real Pushgateway ------------------------------------------------------------


def test_stats_and_snapshots_are_groups_of_their_own_on_the_gateway(
    repository_reports: RepositoryScenario, gateway: Pushgateway, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    logs = repository_reports.logs
    backup = sample_log(SUCCESS_LOG, tmp_path / "logs", 1_760_000_000.0)
    for log in (
        backup,
        logs["snapshots.json"].path,
        logs["stats-raw-data.json"].path,
        logs["stats.json"].path,
    ):
        done = pushrestic(
            "push",
            "--gateway",
            gateway.url,
            "--instance",
            "h1",
            "--location",
            "repo",
            str(log),
            spool=spool,
        )
        assert done.code == 0, done
    key = {"job": "restic", "instance": "h1", "location": "repo", "backend": "default"}
    assert sorted(labels.get("operation", "") for labels in gateway.group_labels()) == [
        "",
        "snapshots",
        "stats",
    ]
    pushed = gateway.pushed()
    # The backup's group is untouched by the others.
    assert pushed.value("restic_backup_success", **key) == 1
    assert pushed.find("restic_backup_success", operation="snapshots") == []
    latest = latest_by_host(repository_reports)
    for host, count in (("a", 1), ("b", 2)):
        labels = {
            **key,
            "operation": "snapshots",
            "snapshot_hostname": host,
            "snapshot_paths": source_path(repository_reports),
        }
        value = pushed.value("restic_snapshots_latest_timestamp_seconds", **labels)
        assert value == pytest.approx(latest[host], abs=1e-6)
        assert pushed.value("restic_snapshots_group_listed", **labels) == count
    assert pushed.value("restic_snapshots_listed", **key, operation="snapshots") == 3
    # The later stats push replaced the earlier one: its group holds restore-size only.
    stats = {**key, "operation": "stats"}
    truth = json.loads(logs["stats.json"].completed.stdout)
    assert (
        pushed.value("restic_stats_size_bytes", **stats, mode="restore-size") == truth["total_size"]
    )
    assert pushed.find("restic_stats_size_bytes", mode="raw-data") == []
