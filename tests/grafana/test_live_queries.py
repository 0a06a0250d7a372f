"""Every query of the dashboard against real back ends: no error, and data in every panel.

Fed three ways: through a real Pushgateway that a real Prometheus scrapes every
second with honor_labels (``alerting/prometheus.yml``); and by remote-write, one
sample per run, into Prometheus' receiver and into VictoriaMetrics.
pushrestic reports sample runs (two instances, two
locations, two backends; a success, a partial run, a failure after a success
30 hours ago, forget/prune and three checks, one failed; ``restic snapshots --json``
of a repository where one host's latest snapshot is an hour old and another's 30
hours, and ``restic stats`` in raw-data mode). Then each panel's queries go
through the back end's Prometheus HTTP API as Grafana would send them (instant
queries for tables and stats, range queries for time series), with the lookback
at its default and the variables as All (``.*``), as one value each, as several
values, and as each single value in turn; the variables' own ``query_result``
queries too.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.grafana.queries import (
    LABEL_VARIABLES,
    Query,
    load,
    queries,
    query_result_text,
    substitute,
    variable_query,
    variables,
)
from tests.integration.alert_servers import Prometheus
from tests.integration.servers import (
    FAILURE_LOG,
    SUCCESS_LOG,
    PrometheusReceiver,
    Pushgateway,
    VictoriaMetrics,
    free_port,
    http_get,
    sample_log,
    start_pushrestic,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCRAPE_TIMEOUT = 45.0  # seconds for Prometheus to have scraped every pushed series
WRITE_TIMEOUT = 30.0  # seconds for written series to be searchable
RANGE = 300.0  # seconds of history a range query asks for
STEP = 5.0
HOUR = 3600.0
PARTIAL_LOG = "restic-0.14-backup-text-warning-unreadable.log"  # exit 3, 2 per-file errors
JSON_LOG = "restic-0.14-backup-json-initial.jsonl"
FORGET_PRUNE_LOG = "restic-0.14-forget-prune-text.log"
CHECK_LOG = "restic-0.14-check-text.log"
STATS_LOG = "restic-0.16.5-stats-rawdata-text.reconstructed.log"  # raw-data, compression
BACKUP_TABLE = "Last backup run per group"
SNAPSHOTS_TABLE = "Latest snapshot per host in the repository"

Selection = Mapping[str, Sequence[str] | None]  # variable -> values; None is All


@dataclass(frozen=True, slots=True)
class Report:
    """One ``pushrestic push`` of a sample log, for one group, that ended ``ago`` s ago."""

    log: str
    instance: str
    location: str
    backend: str
    ago: float
    options: tuple[str, ...] = ()
    content: Callable[[float], str] | None = None  # the log, made at the time given


def snapshots(now: float) -> str:
    """``restic snapshots --json`` (restic 0.14's shape): host alpha's latest snapshot is
    an hour old, host beta's 30 hours."""

    def snapshot(host: str, ago: float) -> dict[str, Any]:
        when = datetime.fromtimestamp(now - ago, UTC).isoformat().replace("+00:00", "Z")
        return {"time": when, "tree": "f" * 64, "paths": ["/srv"], "hostname": host}

    listed = [snapshot("alpha", 25 * HOUR), snapshot("alpha", HOUR), snapshot("beta", 30 * HOUR)]
    return json.dumps(listed, separators=(",", ":")) + "\n"


# Reports of different groups, pushed at the same time.
FIRST = (
    Report(SUCCESS_LOG, "h1", "documents", "local", HOUR, ("--exit-code", "0")),
    Report(PARTIAL_LOG, "h1", "documents", "usb", HOUR, ("--exit-code", "3")),
    Report(SUCCESS_LOG, "h1", "config", "local", 30 * HOUR, ("--exit-code", "0")),
    Report(JSON_LOG, "h2", "config", "usb", 2 * HOUR),
    # Forget, prune and check runs are groups of their own (an operation label), so that
    # their PUT never replaces the backup's series.
    Report(FORGET_PRUNE_LOG, "h1", "documents", "local", HOUR),
    Report(CHECK_LOG, "h1", "documents", "local", HOUR),
    Report(CHECK_LOG, "h2", "config", "usb", HOUR),
    Report(
        CHECK_LOG,
        "h1",
        "config",
        "local",
        HOUR,
        ("--exit-code", "1"),
    ),
    # The repository's own truth: groups of their own (operation snapshots, stats).
    Report("snapshots.json", "h1", "documents", "local", 60, content=snapshots),
    Report(STATS_LOG, "h1", "documents", "local", 60),
)


# Then a failure of a group whose last success (30 hours ago) is carried forward: stale;
# and another success of h2/config/usb, which saves another snapshot (45fbd684, not the
# JSON log's 1c801e48): remote-write keeps both, the table must show the later one.
THEN = (
    Report(FAILURE_LOG, "h1", "config", "local", 600, ("--exit-code", "1")),
    Report(SUCCESS_LOG, "h2", "config", "usb", HOUR, ("--exit-code", "0")),
)
LATEST_SNAPSHOT = "45fbd684"

VALUES = {
    "job": {"restic"},
    "instance": {"h1", "h2"},
    "location": {"documents", "config"},
    "backend": {"local", "usb"},
}
ALL: Selection = dict.fromkeys(LABEL_VARIABLES)
ONE: Selection = {
    "job": ["restic"],
    "instance": ["h1"],
    "location": ["documents"],
    "backend": ["local"],
}
SEVERAL: Selection = {name: sorted(values) for name, values in VALUES.items()}
# The stat panels' values with everything selected.
STATS = {
    "Groups": 4,
    "Succeeded": 2,
    "Partial": 1,
    "Failed": 1,
    "Stale (> 26 h)": 1,
    "Check failed": 1,
    "Hosts without a snapshot (> 26 h)": 1,
}
# The table's Result column: 0 success, 1 partial, 2 failed.
RESULTS = {
    ("h1", "documents", "local"): 0,
    ("h1", "documents", "usb"): 1,
    ("h1", "config", "local"): 2,
    ("h2", "config", "usb"): 0,
}


class QueryError(AssertionError):
    pass


@dataclass(frozen=True, slots=True)
class Live:
    """A back end holding the reports: ``url`` answers the Prometheus query API."""

    feed: str
    url: str
    log: Callable[[], str]

    def get(self, path: str, **params: str) -> Any:
        """The ``data`` of ``GET /api/v1/PATH?PARAMS``; raises QueryError with
        the back end's own message when it answers with an error."""
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            document = json.loads(http_get(url))
        except urllib.error.HTTPError as error:
            raise QueryError(f"{path} {params}: HTTP {error.code}: {error.read()!r}") from None
        if document.get("status") != "success":
            raise QueryError(f"{path} {params}: {document}")
        return document["data"]

    def run(self, query: Query, selection: Selection) -> list[dict[str, Any]]:
        """What Prometheus returns for one panel query, as Grafana would ask for it."""
        expr = substitute(query.expr, selection)
        now = time.time()
        if query.instant:
            data = self.get("query", query=expr, time=f"{now:.3f}")
        else:
            data = self.get(
                "query_range",
                query=expr,
                start=f"{now - RANGE:.3f}",
                end=f"{now:.3f}",
                step=f"{STEP:g}",
            )
        result: list[dict[str, Any]] = data["result"]
        return result

    def variable_values(self, variable: Mapping[str, Any], selection: Selection) -> set[str]:
        """A variable's values, the way Grafana finds them for ``query_result()``: an
        instant query at the end of the time range, each result's text through the regex."""
        expr, regex = variable_query(variable)
        data = self.get("query", query=substitute(expr, selection), time=f"{time.time():.3f}")
        found = set()
        for result in data["result"]:
            match = regex.search(query_result_text(result["metric"], result["value"]))
            assert match, (variable["name"], result)
            found.add(match.group(1))
        return found


def report(destination: Sequence[str], work: Path, reports: Sequence[Report]) -> None:
    """Report ``reports`` at the same time to ``destination`` (``--gateway URL`` or
    ``--remote-write URL``); each must exit 0."""
    spool = work / "spool"
    now = time.time()
    processes = []
    for index, item in enumerate(reports):
        if item.content is None:
            log = sample_log(item.log, work / "logs", now - item.ago, f"{index}-{item.log}")
        else:
            log = work / "logs" / f"{index}-{item.log}"
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(item.content(now))
            os.utime(log, (now - item.ago, now - item.ago))
        processes.append(
            start_pushrestic(
                "push",
                str(log),
                *destination,
                "--instance",
                item.instance,
                "--location",
                item.location,
                "--backend",
                item.backend,
                "--spool-dir",
                str(spool),
                *item.options,
                spool=spool,
            )
        )
    for process in processes:
        done = process.finish()
        assert done.code == 0, str(done)


def wait_until_scraped(live: Live, gateway: Pushgateway) -> None:
    """Poll (with a bound) until Prometheus holds every series the gateway has for
    job ``restic``, with the values the gateway has."""
    # An empty label value is no label at all to Prometheus.
    expected = {
        (s.name, frozenset((k, v) for k, v in s.labels.items() if v)): s.value
        for s in gateway.pushed().samples
    }
    assert expected
    deadline = time.monotonic() + SCRAPE_TIMEOUT
    while True:
        found = {
            (r["metric"].pop("__name__"), frozenset(r["metric"].items())): float(r["value"][1])
            for r in live.get("query", query='{job="restic"}')["result"]
        }
        wrong = {key for key, value in expected.items() if found.get(key) != value}
        if not wrong:
            return
        if time.monotonic() > deadline:
            targets = live.get("targets")["activeTargets"]
            examples = [(key, found.get(key)) for key in sorted(wrong, key=str)[:3]]
            raise AssertionError(
                f"Prometheus has not scraped {len(wrong)} of {len(expected)} series within "
                f"{SCRAPE_TIMEOUT} s, e.g. (series, value found) {examples}\n"
                f"targets: {targets}\n{live.log()}"
            )
        time.sleep(0.2)


def wait_until_written(live: Live) -> None:
    """Poll (with a bound) until the database holds every group's report, the later
    ones (THEN) included."""
    groups = f'count(last_over_time(pushrestic_build_info{{job="restic"}}[{RANGE:.0f}s]))'
    failed = (
        'last_over_time(restic_backup_success{job="restic", instance="h1", '
        f'location="config", backend="local"}}[{RANGE:.0f}s]) == 0'
        " and on () "
        'count(last_over_time(restic_backup_info{instance="h2", location="config", '
        f'backend="usb", snapshot_id="{LATEST_SNAPSHOT}"}}[{RANGE:.0f}s]))'
    )
    expected = len({(r.instance, r.location, r.backend, r.log) for r in FIRST})
    deadline = time.monotonic() + WRITE_TIMEOUT
    while True:
        counted = live.get("query", query=groups)["result"]
        complete = bool(counted) and float(counted[0]["value"][1]) == expected
        if complete and live.get("query", query=failed)["result"]:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not every report is searchable: {counted}\n{live.log()}")
        time.sleep(0.2)


@pytest.fixture(
    scope="module", params=["pushgateway", "remote-write-prometheus", "remote-write-victoria"]
)
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    """The reports, held by a Prometheus that scraped a Pushgateway, or written by
    remote-write into Prometheus' receiver or into VictoriaMetrics."""
    feed = str(request.param)
    work = tmp_path_factory.mktemp(f"grafana-live-{feed}")
    with ExitStack() as stack:
        if feed == "pushgateway":
            gateway = stack.enter_context(Pushgateway(work / "pushgateway"))
            prometheus = stack.enter_context(
                Prometheus(
                    work / "prometheus",
                    gateway=f"127.0.0.1:{gateway.port}",
                    # Nothing listens there: this test is about queries, not notifications.
                    alertmanager=f"127.0.0.1:{free_port()}",
                )
            )
            report(("--gateway", gateway.url), work, FIRST)
            report(("--gateway", gateway.url), work, THEN)
            started = Live(feed, prometheus.url, prometheus.log)
            wait_until_scraped(started, gateway)
        else:
            database: PrometheusReceiver | VictoriaMetrics
            if feed == "remote-write-prometheus":
                database = stack.enter_context(PrometheusReceiver(work / "prometheus"))
            else:
                database = stack.enter_context(VictoriaMetrics(work / "vm"))
            report(("--remote-write", database.write_url), work, FIRST)
            report(("--remote-write", database.write_url), work, THEN)
            started = Live(feed, database.url, database.log)
            wait_until_written(started)
        yield started


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return load()


@pytest.mark.parametrize(
    "selection", [ALL, ONE, SEVERAL], ids=["all", "one-value-each", "several-values"]
)
def test_every_panel_query_returns_data(
    live: Live, dashboard: dict[str, Any], selection: Selection
) -> None:
    empty = [str(query) for query in queries(dashboard) if not live.run(query, selection)]
    assert not empty, f"no data for {selection}: {empty}"


def test_every_single_value_of_every_variable_gives_valid_queries(
    live: Live, dashboard: dict[str, Any]
) -> None:
    """One variable set to one of its values, the others All: Prometheus accepts every
    query, and the table shows exactly the groups that value selects."""
    (table,) = [
        q
        for q in queries(dashboard)
        if q.panel["title"] == BACKUP_TABLE and q.target["refId"] == "A"
    ]
    for name, values in VALUES.items():
        for value in sorted(values):
            selection = {**ALL, name: [value]}
            for query in queries(dashboard):
                live.run(query, selection)  # raises on an error
            groups = {_group(row["metric"]) for row in live.run(table, selection)}
            position = ("job", "instance", "location", "backend").index(name) - 1
            expected = {g for g in RESULTS if position < 0 or g[position] == value}
            assert groups == expected, (name, value)


def test_the_variables_list_the_reported_values_and_narrow_each_other(
    live: Live, dashboard: dict[str, Any]
) -> None:
    found = variables(dashboard)
    for name in LABEL_VARIABLES:
        assert live.variable_values(found[name], ALL) == VALUES[name], name
    chosen: Selection = {"job": ["restic"], "instance": ["h2"], "location": None, "backend": None}
    assert live.variable_values(found["location"], chosen) == {"config"}
    chosen = {**chosen, "location": ["config"]}
    assert live.variable_values(found["backend"], chosen) == {"usb"}


def test_the_stats_count_what_was_reported(live: Live, dashboard: dict[str, Any]) -> None:
    shown = {}
    for query in queries(dashboard):
        if query.panel["type"] == "stat":
            (sample,) = live.run(query, ALL)
            shown[query.panel["title"]] = float(sample["value"][1])
    assert shown == STATS


def _group(labels: Mapping[str, str]) -> tuple[str, str, str]:
    return labels["instance"], labels["location"], labels["backend"]


def test_the_table_shows_each_groups_result_staleness_and_snapshot(
    live: Live, dashboard: dict[str, Any]
) -> None:
    columns = {
        q.target["refId"]: {_group(r["metric"]): r for r in live.run(q, ALL)}
        for q in queries(dashboard)
        if q.panel["title"] == BACKUP_TABLE
    }
    result = {group: int(float(row["value"][1])) for group, row in columns["A"].items()}
    assert result == RESULTS
    # Every row's query keeps the same labels, so that the columns merge into one row.
    for ref, rows in columns.items():
        for group, row in rows.items():
            extra = set(row["metric"]) - {"job", "instance", "location", "backend"}
            assert extra <= ({"snapshot_id", "restic_version"} if ref == "H" else set()), (
                ref,
                group,
            )
    since = {group: float(row["value"][1]) for group, row in columns["C"].items()}
    assert since[("h1", "config", "local")] > 26 * HOUR  # failed since a success 30 h ago
    assert since[("h1", "documents", "local")] < 26 * HOUR
    assert float(columns["D"][("h1", "config", "local")]["value"][1]) == 1  # exit code
    last_run_ms = float(columns["B"][("h1", "documents", "local")]["value"][1])
    assert abs(last_run_ms / 1000 - (time.time() - HOUR)) < 600
    assert columns["H"][("h1", "documents", "local")]["metric"]["snapshot_id"] == "45fbd684"
    # One snapshot per group: the last run's, though an earlier one is within the lookback.
    (info,) = [
        q
        for q in queries(dashboard)
        if q.panel["title"] == BACKUP_TABLE and q.target["refId"] == "H"
    ]
    snapshots = [_group(row["metric"]) for row in live.run(info, ALL)]
    assert sorted(snapshots) == sorted(set(snapshots)), snapshots
    assert columns["H"][("h2", "config", "usb")]["metric"]["snapshot_id"] == LATEST_SNAPSHOT
    assert float(columns["G"][("h1", "documents", "usb")]["value"][1]) == 2  # file errors


def test_the_snapshots_table_shows_each_hosts_latest_snapshot(
    live: Live, dashboard: dict[str, Any]
) -> None:
    columns = {
        q.target["refId"]: {r["metric"]["snapshot_hostname"]: r for r in live.run(q, ALL)}
        for q in queries(dashboard)
        if q.panel["title"] == SNAPSHOTS_TABLE
    }
    since = {host: float(row["value"][1]) for host, row in columns["A"].items()}
    assert set(since) == {"alpha", "beta"}
    assert HOUR <= since["alpha"] < 2 * HOUR
    assert 30 * HOUR <= since["beta"] < 31 * HOUR
    listed = {host: float(row["value"][1]) for host, row in columns["C"].items()}
    assert listed == {"alpha": 2, "beta": 1}
    for rows in columns.values():
        for row in rows.values():
            labels = {k: v for k, v in row["metric"].items() if k != "job"}
            assert labels == {
                "instance": "h1",
                "location": "documents",
                "backend": "local",
                "snapshot_hostname": labels["snapshot_hostname"],
                "snapshot_paths": "/srv",
            }
