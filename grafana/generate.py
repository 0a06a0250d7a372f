"""Generate ``grafana/dashboard.json``, the Grafana dashboard for pushrestic's metrics.

The dashboard is written as code here; the JSON file is this module's output,
committed so that it can be imported without Python::

    python3 grafana/generate.py           # (re)write grafana/dashboard.json
    python3 grafana/generate.py --check   # exit 1 if the committed file differs

In: nothing but the constants below (standard library only, so the script runs
anywhere). Out: one JSON document for Grafana 9 and newer, importable through
the UI or grafana.com (``__inputs`` asks for a Prometheus data source) and
through file provisioning (which does not resolve ``__inputs``). Both work
because every panel, target and variable query uses the ``datasource``
template variable, ``${datasource}``; the input ``DS_PROMETHEUS`` only sets that
variable's initial value. A value provisioning leaves unresolved matches no
data source, so Grafana falls back to the first Prometheus data source.

Every query selects its series with ``job``, ``instance``, ``location`` and
``backend`` regex matchers fed by the variables of the same names, and reads
each one's latest sample within the ``lookback`` variable
(``last_over_time(x[$lookback])``), so that it works fed by a scraped
Pushgateway (a sample at every scrape) and by remote-write (one sample per
run); the label variables list every group that reported within the lookback,
whatever the time range. The metric
names are those of ``pushrestic.metrics.CATALOGUE`` (tests/grafana checks each
one); the stale threshold is that of ``alerting/rules.yml``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

JSON = dict[str, Any]

DASHBOARD = Path(__file__).resolve().parent / "dashboard.json"
UID = "pushrestic"
TITLE = "restic backups (pushrestic)"
GRAFANA_MIN_VERSION = "9.0.0"
SCHEMA_VERSION = 36  # Grafana 9.0; newer versions migrate it on load
GRID_WIDTH = 24

INPUT = "DS_PROMETHEUS"  # the data source asked for on import
DATASOURCE_VARIABLE = "datasource"
# The label variables, in the order they narrow each other down.
LABEL_VARIABLES = ("job", "instance", "location", "backend")
GROUP_BY = ", ".join(LABEL_VARIABLES)
# Every group reports pushrestic_build_info, whatever it ran: the variables' source.
VARIABLE_SOURCE = "pushrestic_build_info"
# How far back a query looks for a group's last report.
LOOKBACK_VARIABLE = "lookback"
LOOKBACKS = ("5m", "1d", "2d", "8d", "31d")
DEFAULT_LOOKBACK = "2d"

DAY_SECONDS = 86_400  # a daily schedule: time since the last success turns orange
STALE_SECONDS = 93_600  # 26 hours: alerting/rules.yml, ResticBackupStale
WEEK_SECONDS = 7 * DAY_SECONDS  # a weekly check: time since the last one turns orange
LEGEND = "{{instance}} {{location}}/{{backend}}"

# Grafana's named colours.
GREEN, ORANGE, RED, BLUE = "green", "orange", "red", "blue"


# -- queries ------------------------------------------------------------------


def datasource() -> JSON:
    """A reference to the data source the dashboard's variable selects."""
    return {"type": "prometheus", "uid": "${" + DATASOURCE_VARIABLE + "}"}


def select(metric: str, names: Sequence[str] = LABEL_VARIABLES) -> str:
    """``metric{job=~"$job", ...}``: the series the variables select."""
    matchers = ", ".join(f'{name}=~"${name}"' for name in names)
    return f"{metric}{{{matchers}}}"


def last(metric: str, names: Sequence[str] = LABEL_VARIABLES) -> str:
    """The value of each selected series' last report: its latest sample within the
    lookback (``last_over_time(metric{...}[$lookback])``). Over a scraped Pushgateway
    that is the value of the last scrape; over remote-write, one sample per run, the
    last run's, however long ago within the lookback."""
    return f"last_over_time({select(metric, names)}[${LOOKBACK_VARIABLE}])"


def known(metric: str) -> str:
    """:func:`last`, unless it is the -1 remote-write writes for a value a run did not know."""
    return f"{last(metric)} >= 0"


def target(
    ref: str, expr: str, legend: str = "", *, instant: bool = False, table: bool = False
) -> JSON:
    """One Prometheus query: a range query, or an instant one (a table's column, a stat)."""
    query: JSON = {
        "datasource": datasource(),
        "refId": ref,
        "editorMode": "code",
        "expr": expr,
        "range": not instant,
        "instant": instant,
        "format": "table" if table else "time_series",
    }
    if legend:
        query["legendFormat"] = legend
    return query


def thresholds(*steps: tuple[str, float | None]) -> JSON:
    """Absolute thresholds: the first step's value is None (from minus infinity)."""
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for c, v in steps]}


def value_mappings(texts: dict[int, tuple[str, str]]) -> list[JSON]:
    """One value mapping: ``{value: (text, colour)}``."""
    options = {
        str(value): {"text": text, "color": color, "index": index}
        for index, (value, (text, color)) in enumerate(texts.items())
    }
    return [{"type": "value", "options": options}]


def override(name: str, **properties: Any) -> JSON:
    """Field config for the field (table column, series) whose display name is ``name``."""
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [{"id": key, "value": value} for key, value in properties.items()],
    }


def regex_override(pattern: str, **properties: Any) -> JSON:
    """Field config for the series whose display name matches ``pattern``."""
    return {
        "matcher": {"id": "byRegexp", "options": pattern},
        "properties": [{"id": key, "value": value} for key, value in properties.items()],
    }


# -- panels -------------------------------------------------------------------


def stat(title: str, description: str, expr: str, colours: JSON) -> JSON:
    """A number: how many groups are in some state (0 when none is)."""
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": datasource(),
        "targets": [target("A", expr, instant=True)],
        "fieldConfig": {
            "defaults": {
                "unit": "none",
                "decimals": 0,
                "color": {"mode": "thresholds"},
                "thresholds": colours,
                "mappings": [],
            },
            "overrides": [],
        },
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
            "graphMode": "none",
            "justifyMode": "center",
            "orientation": "auto",
            "textMode": "value",
        },
    }


def timeseries(
    title: str,
    description: str,
    targets: list[JSON],
    unit: str,
    *,
    overrides: Sequence[JSON] = (),
    colours: JSON | None = None,
    threshold_lines: bool = False,
    mappings: Sequence[JSON] = (),
    maximum: float | None = None,
) -> JSON:
    """Values over time, one line per group. Each value holds until the next run
    replaces it, so lines step; thresholds can be drawn as dashed lines."""
    defaults: JSON = {
        "unit": unit,
        "min": 0,
        "color": {"mode": "palette-classic"},
        "thresholds": colours or thresholds((GREEN, None)),
        "mappings": list(mappings),
        "custom": {
            "drawStyle": "line",
            "lineInterpolation": "stepAfter",
            "lineWidth": 2,
            "fillOpacity": 10,
            "gradientMode": "none",
            "showPoints": "never",
            "spanNulls": False,
            "axisPlacement": "auto",
            "stacking": {"mode": "none", "group": "A"},
            "thresholdsStyle": {"mode": "dashed" if threshold_lines else "off"},
        },
    }
    if maximum is not None:
        defaults["max"] = maximum
    if unit in ("none", "short"):
        defaults["decimals"] = 0
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": datasource(),
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": list(overrides)},
        "options": {
            "legend": {
                "displayMode": "table",
                "placement": "bottom",
                "showLegend": True,
                "calcs": ["lastNotNull", "max"],
            },
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }


# The result of a group's last backup run: 0 success, 1 partial (exit 3), 2 failed.
RESULT_EXPR = (
    f"max by ({GROUP_BY}) (\n"
    f"  0 * ({last('restic_backup_success')} == 1)\n"
    f"  or 1 + 0 * ({last('restic_backup_exit_code')} == 3)\n"
    f"  or 2 + 0 * {last('restic_backup_success')}\n"
    ")"
)
RESULTS = {0: ("success", GREEN), 1: ("partial", ORANGE), 2: ("failed", RED)}


def latest(metric: str, scale: str = "") -> str:
    """The instant value of ``metric`` per group, without its name (so that the
    table's columns merge into one row per group)."""
    return f"max by ({GROUP_BY}) ({known(metric)}){scale}"


def last_runs_table() -> JSON:
    """One row per (job, instance, location, backend): how its last backup went."""
    columns: list[tuple[str, str, str, dict[str, Any]]] = [
        (
            "A",
            "Result",
            RESULT_EXPR,
            {
                "mappings": value_mappings(RESULTS),
                "custom.displayMode": "color-background",
            },
        ),
        (
            "B",
            "Last run",
            latest("restic_backup_last_run_timestamp_seconds", " * 1000"),
            {"unit": "dateTimeAsIso"},
        ),
        (
            "C",
            "Since last success",
            f"time() - {latest('restic_backup_last_success_timestamp_seconds')}",
            {
                "unit": "s",
                "decimals": 1,
                "thresholds": thresholds(
                    (GREEN, None), (ORANGE, DAY_SECONDS), (RED, STALE_SECONDS)
                ),
                "custom.displayMode": "color-text",
                "noValue": "never",
            },
        ),
        (
            "D",
            "Exit code",
            latest("restic_backup_exit_code"),
            {
                "decimals": 0,
                "mappings": [
                    {
                        "type": "value",
                        "options": {
                            "0": {"color": GREEN, "index": 0},
                            "3": {"color": ORANGE, "index": 1},
                        },
                    },
                    {
                        "type": "range",
                        "options": {"from": 1, "to": 255, "result": {"color": RED, "index": 2}},
                    },
                ],
                "custom.displayMode": "color-text",
                "noValue": "unknown",
            },
        ),
        ("E", "Duration", latest("restic_backup_duration_seconds"), {"unit": "s"}),
        ("F", "Data added", latest("restic_backup_added_bytes"), {"unit": "bytes"}),
        (
            "G",
            "File errors",
            latest("restic_backup_errors"),
            {
                "decimals": 0,
                "thresholds": thresholds((GREEN, None), (ORANGE, 1)),
                "custom.displayMode": "color-text",
            },
        ),
    ]
    # The info series of the last run: over remote-write, earlier runs' snapshots are still
    # within the lookback, each a series of its own; the one written last wins (the
    # subquery's 5-minute steps do not reach the last few minutes: the bare selector does).
    written = f"timestamp({select('restic_backup_info')})"
    info = (
        f"topk by ({GROUP_BY}) (1, max_over_time({written}[${LOOKBACK_VARIABLE}:5m]) or {written})"
    )
    targets = [target(ref, expr, instant=True, table=True) for ref, _, expr, _ in columns]
    targets.append(target("H", info, instant=True, table=True))
    # Organize orders (and excludes) fields by their names from the queries, then renames
    # them; overrides then match the new names.
    order = ["instance", "location", "backend", *(f"Value #{ref}" for ref, _, _, _ in columns)]
    order += ["snapshot_id", "restic_version"]
    return {
        "type": "table",
        "title": "Last backup run per group",
        "description": (
            "One row per instance, location and backend: the result of the last backup run "
            "(success; partial: exit 3, a snapshot with unreadable files; failed), when it "
            "ended, how long ago the last successful run ended (orange after 24 h, red after "
            "26 h: the stale alert), restic's exit code, how long it took, the data it added "
            "before compression, per-file errors and the snapshot it saved. Failed rows first."
        ),
        "datasource": datasource(),
        "targets": targets,
        "transformations": [
            {"id": "merge", "options": {}},
            {
                "id": "organize",
                "options": {
                    "excludeByName": {"Time": True, "job": True, "Value #H": True},
                    "indexByName": {name: index for index, name in enumerate(order)},
                    "renameByName": {
                        **{f"Value #{ref}": name for ref, name, _, _ in columns},
                        "snapshot_id": "Snapshot",
                        "restic_version": "restic",
                    },
                },
            },
        ],
        "fieldConfig": {
            "defaults": {
                "custom": {
                    "align": "auto",
                    "displayMode": "auto",
                    "inspect": False,
                    "filterable": True,
                },
                "color": {"mode": "thresholds"},
                "thresholds": thresholds((GREEN, None)),
                "mappings": [],
            },
            "overrides": [override(name, **props) for _, name, _, props in columns],
        },
        "options": {
            "showHeader": True,
            "footer": {"show": False, "reducer": ["sum"], "fields": ""},
            "sortBy": [{"displayName": "Result", "desc": True}],
        },
    }


# The labels of the repository's snapshot groups (restic snapshots --json).
SNAPSHOT_LABELS = ("snapshot_hostname", "snapshot_paths", "snapshot_tags")
SNAPSHOT_GROUP_BY = ", ".join((*LABEL_VARIABLES, *SNAPSHOT_LABELS))
SNAPSHOT_LEGEND = "{{instance}} {{location}}/{{backend}} {{snapshot_hostname}} {{snapshot_paths}}"


def snapshot_latest(metric: str, scale: str = "") -> str:
    """The instant value of ``metric`` per snapshot group, without its name."""
    return f"max by ({SNAPSHOT_GROUP_BY}) ({known(metric)}){scale}"


def snapshots_table() -> JSON:
    """One row per snapshot group of each repository: how old its latest snapshot is."""
    columns: list[tuple[str, str, str, dict[str, Any]]] = [
        (
            "A",
            "Since latest snapshot",
            f"time() - {snapshot_latest('restic_snapshots_latest_timestamp_seconds')}",
            {
                "unit": "s",
                "decimals": 1,
                "thresholds": thresholds(
                    (GREEN, None), (ORANGE, DAY_SECONDS), (RED, STALE_SECONDS)
                ),
                "custom.displayMode": "color-text",
                "noValue": "none listed",
            },
        ),
        (
            "B",
            "Latest snapshot",
            snapshot_latest("restic_snapshots_latest_timestamp_seconds", " * 1000"),
            {"unit": "dateTimeAsIso"},
        ),
        (
            "C",
            "Snapshots listed",
            snapshot_latest("restic_snapshots_group_listed"),
            {"decimals": 0},
        ),
    ]
    order = ["instance", "location", "backend", *SNAPSHOT_LABELS]
    order += [f"Value #{ref}" for ref, _, _, _ in columns]
    return {
        "type": "table",
        "title": "Latest snapshot per host in the repository",
        "description": (
            "From restic snapshots --json pushed by pushrestic: one row per repository "
            "(instance, location, backend) and snapshot group (host, paths, tags as restic "
            "grouped them), with how long ago its latest snapshot was taken (orange after "
            "24 h, red after 26 h: the ResticSnapshotStale alert), when, and how many "
            "snapshots were listed. Oldest first."
        ),
        "datasource": datasource(),
        "targets": [target(ref, expr, instant=True, table=True) for ref, _, expr, _ in columns],
        "transformations": [
            {"id": "merge", "options": {}},
            {
                "id": "organize",
                "options": {
                    "excludeByName": {"Time": True, "job": True},
                    "indexByName": {name: index for index, name in enumerate(order)},
                    "renameByName": {
                        **{f"Value #{ref}": name for ref, name, _, _ in columns},
                        "snapshot_hostname": "Host",
                        "snapshot_paths": "Paths",
                        "snapshot_tags": "Tags",
                    },
                },
            },
        ],
        "fieldConfig": {
            "defaults": {
                "custom": {
                    "align": "auto",
                    "displayMode": "auto",
                    "inspect": False,
                    "filterable": True,
                },
                "color": {"mode": "thresholds"},
                "thresholds": thresholds((GREEN, None)),
                "mappings": [],
            },
            "overrides": [override(name, **props) for _, name, _, props in columns],
        },
        "options": {
            "showHeader": True,
            "footer": {"show": False, "reducer": ["sum"], "fields": ""},
            "sortBy": [{"displayName": "Since latest snapshot", "desc": True}],
        },
    }


def repository() -> list[JSON]:
    """The repository's own truth: its snapshots (``restic snapshots --json``) and its
    size (``restic stats``), whoever made the backups."""
    dashed = {"fill": "dash", "dash": [10, 10]}
    return [
        stat(
            "Hosts without a snapshot (> 26 h)",
            "Snapshot groups (host, paths or tags) whose latest snapshot in the repository "
            "is more than 26 hours old (the ResticSnapshotStale alert).",
            count(
                f"time() - {last('restic_snapshots_latest_timestamp_seconds')} > {STALE_SECONDS}"
            ),
            thresholds((GREEN, None), (ORANGE, 1)),
        ),
        snapshots_table(),
        timeseries(
            "Time since latest snapshot",
            "Seconds since the latest snapshot of each host (and paths or tags) in the "
            "repository was taken; the dashed lines are 24 h and 26 h (the ResticSnapshotStale "
            "alert).",
            [
                target(
                    "A",
                    f"time() - {last('restic_snapshots_latest_timestamp_seconds')}",
                    SNAPSHOT_LEGEND,
                )
            ],
            "s",
            colours=thresholds((GREEN, None), (ORANGE, DAY_SECONDS), (RED, STALE_SECONDS)),
            threshold_lines=True,
        ),
        timeseries(
            "Repository size (restic stats)",
            "Total size restic stats counted, per counting mode (restore-size: the files as "
            "restored; raw-data: the blobs as stored), and in raw-data mode the blobs' size "
            "before compression (dashed).",
            [
                target("A", known("restic_stats_size_bytes"), f"{LEGEND} {{{{mode}}}}"),
                target(
                    "B",
                    known("restic_stats_uncompressed_size_bytes"),
                    f"{LEGEND} {{{{mode}}}} uncompressed",
                ),
            ],
            "bytes",
            overrides=[regex_override("/ uncompressed$/", **{"custom.lineStyle": dashed})],
        ),
    ]


def count(expr: str) -> str:
    """How many series ``expr`` yields: 0, not "no data", when none."""
    return f"count({expr}) or vector(0)"


def stats() -> list[JSON]:
    """The counts across the selected groups, worst ones red."""
    alarm = thresholds((GREEN, None), (RED, 1))
    return [
        stat(
            "Groups",
            "Groups (instance, location, backend) that reported a backup run.",
            count(last("restic_backup_last_run_timestamp_seconds")),
            thresholds((BLUE, None)),
        ),
        stat(
            "Succeeded",
            "Groups whose last backup run exited 0.",
            count(f"{last('restic_backup_success')} == 1"),
            thresholds((GREEN, None)),
        ),
        stat(
            "Partial",
            "Groups whose last backup run exited 3: the snapshot was saved, "
            "but some files could not be read.",
            count(f"{last('restic_backup_exit_code')} == 3"),
            thresholds((GREEN, None), (ORANGE, 1)),
        ),
        stat(
            "Failed",
            "Groups whose last backup run failed (an exit code other than 0 and 3, "
            "or a failure whose code is unknown): no snapshot was saved.",
            count(
                f"({last('restic_backup_success')} == 0)\n"
                f"  unless on ({GROUP_BY}) ({last('restic_backup_exit_code')} == 3)"
            ),
            alarm,
        ),
        stat(
            "Stale (> 26 h)",
            "Groups whose last successful backup ended more than 26 hours ago "
            "(the ResticBackupStale alert).",
            count(
                f"time() - {last('restic_backup_last_success_timestamp_seconds')} > {STALE_SECONDS}"
            ),
            alarm,
        ),
        stat(
            "Check failed",
            "Repositories whose last restic check found errors.",
            count(f"{last('restic_check_success')} == 0"),
            alarm,
        ),
    ]


def history() -> list[JSON]:
    """What each run reported, over time."""
    dashed = {"fill": "dash", "dash": [10, 10]}
    return [
        timeseries(
            "Time since last successful backup",
            "Seconds since the last backup run that exited 0 ended, per group; the dashed "
            "lines are 24 h (a missed daily run) and 26 h (the stale alert).",
            [
                target(
                    "A",
                    f"time() - {last('restic_backup_last_success_timestamp_seconds')}",
                    LEGEND,
                )
            ],
            "s",
            colours=thresholds((GREEN, None), (ORANGE, DAY_SECONDS), (RED, STALE_SECONDS)),
            threshold_lines=True,
        ),
        timeseries(
            "Backup duration",
            "How long each group's last backup run took.",
            [target("A", known("restic_backup_duration_seconds"), LEGEND)],
            "s",
        ),
        timeseries(
            "Data added",
            "Data the last backup run added to the repository: raw (before compression, "
            "solid) and stored (after compression, dashed).",
            [
                target("A", known("restic_backup_added_bytes"), f"{LEGEND} raw"),
                target("B", known("restic_backup_added_stored_bytes"), f"{LEGEND} stored"),
            ],
            "bytes",
            overrides=[regex_override("/ stored$/", **{"custom.lineStyle": dashed})],
        ),
        timeseries(
            "Files by state",
            "Files in the last backup run: new, changed and unmodified since the parent snapshot.",
            [target("A", known("restic_backup_files"), f"{LEGEND} {{{{state}}}}")],
            "short",
        ),
        timeseries(
            "Processed size",
            "Bytes the last backup run read or scanned: the size of what was backed up.",
            [target("A", known("restic_backup_processed_bytes"), LEGEND)],
            "bytes",
        ),
        timeseries(
            "Per-file errors",
            "Files or directories the last backup run could not read (or that were missing); "
            "above 0 the run is partial (exit 3).",
            [target("A", known("restic_backup_errors"), LEGEND)],
            "short",
            colours=thresholds((GREEN, None), (ORANGE, 1)),
        ),
        timeseries(
            "Forget: snapshots kept and removed",
            "Snapshots the last restic forget kept (solid) and removed (dashed).",
            [
                target("A", known("restic_forget_kept_snapshots"), f"{LEGEND} kept"),
                target("B", known("restic_forget_removed_snapshots"), f"{LEGEND} removed"),
            ],
            "short",
            overrides=[regex_override("/ removed$/", **{"custom.lineStyle": dashed})],
        ),
        timeseries(
            "Prune: space freed and repository size",
            "Bytes the last prune freed (left axis) and the size of the repository's "
            "blobs after it (right axis, dashed).",
            [
                target("A", known("restic_prune_freed_bytes"), f"{LEGEND} freed"),
                target("B", known("restic_repository_size_bytes"), f"{LEGEND} repository size"),
            ],
            "bytes",
            overrides=[
                regex_override(
                    "/ repository size$/",
                    **{"custom.axisPlacement": "right", "custom.lineStyle": dashed},
                )
            ],
        ),
        timeseries(
            "Check results",
            "Whether the last restic check of each repository found no errors (ok) or "
            "found errors (the ResticCheckFailed alert).",
            [target("A", known("restic_check_success"), LEGEND)],
            "none",
            mappings=value_mappings({1: ("ok", GREEN), 0: ("errors", RED)}),
            maximum=1,
        ),
        timeseries(
            "Time since last check",
            "Seconds since the last restic check of each repository ended; the dashed line "
            "is a week, for a weekly check.",
            [target("A", f"time() - {last('restic_check_last_run_timestamp_seconds')}", LEGEND)],
            "s",
            colours=thresholds((GREEN, None), (ORANGE, WEEK_SECONDS)),
            threshold_lines=True,
        ),
    ]


# -- variables ----------------------------------------------------------------


def variables() -> list[JSON]:
    """The data source, then job, instance, location and backend: each narrowed down
    by the ones before it, multi-select, with All matching any value (``.*``)."""
    found: list[JSON] = [
        {
            "name": DATASOURCE_VARIABLE,
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "regex": "",
            "current": {"selected": False, "text": "${" + INPUT + "}", "value": "${" + INPUT + "}"},
            "options": [],
            "hide": 0,
            "includeAll": False,
            "multi": False,
            "refresh": 1,
            "skipUrlSync": False,
        }
    ]
    found.append(lookback_variable())
    for index, name in enumerate(LABEL_VARIABLES):
        # An instant query at the end of the time range, over the lookback: every group
        # that reported within the lookback, however long before the time range.
        query = f"query_result(max by ({name}) ({last(VARIABLE_SOURCE, LABEL_VARIABLES[:index])}))"
        found.append(
            {
                "name": name,
                "label": name.capitalize(),
                "type": "query",
                "datasource": datasource(),
                "definition": query,
                "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
                "regex": f'/{name}="([^"]*)"/',
                "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
                "options": [],
                "hide": 0,
                "includeAll": True,
                "allValue": ".*",
                "multi": True,
                "refresh": 2,
                "sort": 1,
                "skipUrlSync": False,
            }
        )
    return found


def lookback_variable() -> JSON:
    """How far back every query looks for each group's last report."""
    return {
        "name": LOOKBACK_VARIABLE,
        "label": "Lookback",
        "description": (
            "How far back each query looks for a group's last report. Fed by a Pushgateway "
            "(scraped all the time) any value works, and 5m is the cheapest; fed by "
            "remote-write (one sample per run) it must be longer than the time between runs: "
            "a group silent for longer drops out of every panel (the alerts look back 30 days)."
        ),
        "type": "custom",
        "query": ",".join(LOOKBACKS),
        "current": {"selected": True, "text": DEFAULT_LOOKBACK, "value": DEFAULT_LOOKBACK},
        "options": [
            {"selected": value == DEFAULT_LOOKBACK, "text": value, "value": value}
            for value in LOOKBACKS
        ],
        "hide": 0,
        "includeAll": False,
        "multi": False,
        "skipUrlSync": False,
    }


# -- the dashboard ------------------------------------------------------------


class _Grid:
    """Places panels left to right on Grafana's 24-wide grid, starting a new row
    when one does not fit, and numbers them."""

    def __init__(self) -> None:
        self.panels: list[JSON] = []
        self._x = 0
        self._y = 0
        self._row_height = 0

    def place(self, panel: JSON, width: int, height: int) -> None:
        if self._x + width > GRID_WIDTH:
            self._x, self._y, self._row_height = 0, self._y + self._row_height, 0
        panel = {"id": len(self.panels) + 1, **panel}
        panel["gridPos"] = {"x": self._x, "y": self._y, "w": width, "h": height}
        self.panels.append(panel)
        self._x += width
        self._row_height = max(self._row_height, height)


def panels() -> list[JSON]:
    grid = _Grid()
    for panel in stats():
        grid.place(panel, 4, 4)
    grid.place(last_runs_table(), GRID_WIDTH, 10)
    for panel in history():
        grid.place(panel, 12, 8)
    stale, table, *charts = repository()
    grid.place(stale, 4, 8)
    grid.place(table, GRID_WIDTH - 4, 8)
    for panel in charts:
        grid.place(panel, 12, 8)
    return grid.panels


def dashboard() -> JSON:
    """The whole dashboard document."""
    built = panels()
    types = sorted({panel["type"] for panel in built})
    names = {"stat": "Stat", "table": "Table", "timeseries": "Time series"}
    return {
        "__inputs": [
            {
                "name": INPUT,
                "label": "Prometheus",
                "description": (
                    "The Prometheus that scrapes the Pushgateway pushrestic pushes to, or the "
                    "database pushrestic writes into by remote-write."
                ),
                "type": "datasource",
                "pluginId": "prometheus",
                "pluginName": "Prometheus",
            }
        ],
        "__requires": [
            {"type": "grafana", "id": "grafana", "name": "Grafana", "version": GRAFANA_MIN_VERSION},
            {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
            *({"type": "panel", "id": t, "name": names[t], "version": ""} for t in types),
        ],
        "id": None,
        "uid": UID,
        "title": TITLE,
        "description": (
            "restic backups reported by pushrestic: the last run of every instance, location "
            "and backend, what is failing or stale, each run's statistics over time, and "
            "what the repositories themselves hold (restic snapshots and stats)."
        ),
        "tags": ["restic", "backup", "pushrestic"],
        "editable": True,
        "graphTooltip": 1,
        "timezone": "",
        "time": {"from": "now-7d", "to": "now"},
        "refresh": "1m",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "links": [],
        "annotations": {"list": []},
        "templating": {"list": variables()},
        "panels": built,
    }


def render() -> str:
    """The dashboard as the exact text of ``dashboard.json``."""
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


def write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def main(argv: Sequence[str] | None = None) -> int:
    """Write the dashboard (0), or with --check compare it: 0 if equal, 1 if not."""
    parser = argparse.ArgumentParser(description="Generate pushrestic's Grafana dashboard.")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the file differs from the generated one"
    )
    parser.add_argument("--output", type=Path, default=DASHBOARD, help="default: %(default)s")
    args = parser.parse_args(argv)
    text = render()
    path: Path = args.output
    if args.check:
        try:
            current = path.read_text(encoding="utf-8")
        except OSError as error:
            print(f"{path}: {error.strerror}", file=sys.stderr)
            return 1
        if current != text:
            print(
                f"{path} is out of date: run python3 grafana/generate.py and commit it",
                file=sys.stderr,
            )
            return 1
        return 0
    write(path, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
