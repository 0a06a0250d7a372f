"""The Grafana dashboard: generated, importable both ways, written against the catalogue."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from grafana import generate
from pushrestic.metrics import METRIC_NAMES
from tests.grafana.queries import (
    DASHBOARD,
    GRAFANA,
    LABEL_VARIABLES,
    PROMQL_FUNCTIONS,
    identifiers,
    load,
    queries,
    selectors,
    variable_query,
    variables,
    walk,
)

ALERTING = Path(__file__).parents[2] / "alerting"
PANEL_TYPES = {"stat": "Stat", "table": "Table", "timeseries": "Time series"}
VARIABLE_REF = {"type": "prometheus", "uid": "${datasource}"}
INPUT = "${DS_PROMETHEUS}"
# Grafana's import replaces ${NAME} for each input NAME (and leaves other ${...} alone):
# pkg/services/dashboardimport/utils/dash_template_evaluator.go.
_IMPORT_PLACEHOLDER = re.compile(r"(\$\{.+?\})")


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return load()


# -- generated ----------------------------------------------------------------


def test_the_committed_json_is_what_the_generator_writes() -> None:
    assert DASHBOARD.read_text(encoding="utf-8") == generate.render(), (
        "grafana/dashboard.json is out of date: run python3 grafana/generate.py"
    )


def test_generate_check_passes_on_the_committed_file() -> None:
    done = subprocess.run(
        [sys.executable, str(GRAFANA / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_generate_writes_the_file_and_check_fails_once_it_differs(tmp_path: Path) -> None:
    output = tmp_path / "dashboard.json"
    assert generate.main(["--check", "--output", str(output)]) == 1  # missing
    assert generate.main(["--output", str(output)]) == 0
    assert output.read_text(encoding="utf-8") == generate.render()
    assert generate.main(["--check", "--output", str(output)]) == 0
    output.write_text(generate.render().replace('"Groups"', '"Groupz"'), encoding="utf-8")
    assert generate.main(["--check", "--output", str(output)]) == 1


def test_the_json_is_valid_and_round_trips() -> None:
    text = DASHBOARD.read_text(encoding="utf-8")
    assert json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n" == text


# -- import: UI / grafana.com, and provisioning --------------------------------


def test_inputs_ask_for_one_prometheus_data_source(dashboard: dict[str, Any]) -> None:
    (single,) = dashboard["__inputs"]
    assert single["name"] == "DS_PROMETHEUS"
    assert single["type"] == "datasource"
    assert single["pluginId"] == "prometheus"


def test_requires_grafana_9_prometheus_and_every_panel_type_used(
    dashboard: dict[str, Any],
) -> None:
    requires = {(r["type"], r["id"]): r for r in dashboard["__requires"]}
    assert int(requires[("grafana", "grafana")]["version"].split(".")[0]) == 9
    assert ("datasource", "prometheus") in requires
    used = {panel["type"] for panel in dashboard["panels"]}
    assert used <= set(PANEL_TYPES), used - set(PANEL_TYPES)
    assert {i for t, i in requires if t == "panel"} == used


def test_every_datasource_reference_is_the_datasource_variable(
    dashboard: dict[str, Any],
) -> None:
    references = [(path, value) for path, value in walk(dashboard) if path.endswith(".datasource")]
    assert references
    for path, value in references:
        assert value == VARIABLE_REF, path
    for panel in dashboard["panels"]:
        assert panel["datasource"] == VARIABLE_REF, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == VARIABLE_REF, (panel["title"], target["refId"])
    for name in LABEL_VARIABLES:
        assert variables(dashboard)[name]["datasource"] == VARIABLE_REF, name


def test_the_input_only_sets_the_datasource_variable(dashboard: dict[str, Any]) -> None:
    """Where the input's placeholder is, and what an import makes of the document."""
    places = [path for path, value in walk(dashboard) if isinstance(value, str) and INPUT in value]
    index = [v["name"] for v in dashboard["templating"]["list"]].index("datasource")
    variable = f"$.templating.list[{index}].current"
    assert places == [f"{variable}.text", f"{variable}.value"]

    imported = _import(dashboard, {INPUT: "my-prometheus-uid"})
    assert "__inputs" not in imported
    assert variables(imported)["datasource"]["current"]["value"] == "my-prometheus-uid"
    # Every query still goes through the variable, so switching it switches them all.
    references = [value for path, value in walk(imported) if path.endswith(".datasource")]
    assert references
    assert all(value == VARIABLE_REF for value in references)


def _import(node: Any, inputs: dict[str, str]) -> Any:
    """What Grafana's import does to a dashboard: replace each input's ``${NAME}``."""
    if isinstance(node, dict):
        return {k: _import(v, inputs) for k, v in node.items() if k != "__inputs"}
    if isinstance(node, list):
        return [_import(v, inputs) for v in node]
    if isinstance(node, str):
        return _IMPORT_PLACEHOLDER.sub(lambda m: inputs.get(m.group(1), m.group(1)), node)
    return node


def test_the_dashboard_has_a_fixed_uid_and_no_id(dashboard: dict[str, Any]) -> None:
    """A fixed uid makes a re-import or a provisioned update replace the same dashboard."""
    assert dashboard["uid"] == "pushrestic"
    assert dashboard["id"] is None
    assert isinstance(dashboard["schemaVersion"], int)


def test_the_provisioning_examples_load_the_dashboard_and_a_prometheus() -> None:
    provisioning = GRAFANA / "provisioning"
    dashboards = yaml.safe_load((provisioning / "dashboards" / "pushrestic.yml").read_text())
    assert dashboards["apiVersion"] == 1
    (provider,) = dashboards["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"].startswith("/")
    sources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    assert sources["apiVersion"] == 1
    (source,) = sources["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"].startswith("http")


# -- layout and text ------------------------------------------------------------


def test_panel_ids_are_unique(dashboard: dict[str, Any]) -> None:
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert all(isinstance(i, int) and i > 0 for i in ids)


def test_panels_fit_the_grid_and_do_not_overlap(dashboard: dict[str, Any]) -> None:
    boxes = []
    for panel in dashboard["panels"]:
        pos = panel["gridPos"]
        assert pos["w"] > 0, panel["title"]
        assert pos["h"] > 0, panel["title"]
        assert pos["x"] >= 0, panel["title"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        assert pos["y"] >= 0, panel["title"]
        boxes.append((panel["title"], pos["x"], pos["y"], pos["x"] + pos["w"], pos["y"] + pos["h"]))
    for i, (a, ax0, ay0, ax1, ay1) in enumerate(boxes):
        for b, bx0, by0, bx1, by1 in boxes[i + 1 :]:
            overlap = ax0 < bx1 and bx0 < ax1 and ay0 < by1 and by0 < ay1
            assert not overlap, f"{a!r} and {b!r} overlap"


def test_every_panel_has_a_title_and_a_short_description(dashboard: dict[str, Any]) -> None:
    for panel in dashboard["panels"]:
        assert panel["title"].strip()
        description = panel.get("description", "")
        assert description.strip(), panel["title"]
        assert len(description) <= 600, panel["title"]


def test_the_readme_explains_every_panel(dashboard: dict[str, Any]) -> None:
    readme = (GRAFANA / "README.md").read_text(encoding="utf-8")
    for panel in dashboard["panels"]:
        assert panel["title"] in readme, panel["title"]
    assert "python3 grafana/generate.py" in readme


# -- queries ------------------------------------------------------------------


def test_every_metric_in_a_query_is_in_the_catalogue(dashboard: dict[str, Any]) -> None:
    used: set[str] = set()
    for query in queries(dashboard):
        names = identifiers(query.expr)
        assert names.metrics, query
        assert names.metrics <= set(METRIC_NAMES), (str(query), names.metrics - set(METRIC_NAMES))
        assert names.functions <= PROMQL_FUNCTIONS, (str(query), names.functions)
        used |= names.metrics
    for variable in variables(dashboard).values():
        if variable["type"] == "query":
            expr, _ = variable_query(variable)
            assert identifiers(expr).metrics <= set(METRIC_NAMES), variable["name"]
    # The series the issue asks for are all shown.
    assert {
        "restic_backup_success",
        "restic_backup_exit_code",
        "restic_backup_last_success_timestamp_seconds",
        "restic_backup_duration_seconds",
        "restic_backup_added_bytes",
        "restic_backup_added_stored_bytes",
        "restic_backup_files",
        "restic_backup_processed_bytes",
        "restic_backup_errors",
        "restic_backup_info",
        "restic_forget_kept_snapshots",
        "restic_forget_removed_snapshots",
        "restic_prune_freed_bytes",
        "restic_repository_size_bytes",
        "restic_check_success",
        "restic_snapshots_latest_timestamp_seconds",
        "restic_snapshots_group_listed",
        "restic_stats_size_bytes",
    } <= used


def test_every_selector_filters_by_all_four_variables(dashboard: dict[str, Any]) -> None:
    expected = {name: ("=~", f"${name}") for name in LABEL_VARIABLES}
    for query in queries(dashboard):
        assert not identifiers(query.expr).bare_metrics, query
        found = selectors(query.expr)
        assert found, query
        for metric, matchers in found:
            assert matchers == expected, (str(query), metric, matchers)


_LAST = re.compile(r"last_over_time\((\w+)\{[^}]*\}\[\$lookback\]\)")
_SUBQUERY = re.compile(
    r"max_over_time\(timestamp\((\w+)(\{[^}]*\})\)\[\$lookback:5m\]\) or timestamp\(\1\2\)"
)


def test_every_series_is_read_as_its_last_report_within_the_lookback(
    dashboard: dict[str, Any],
) -> None:
    """Fed by remote-write a group leaves one sample per run: a bare selector would see it
    for five minutes. Every selector is read over ``$lookback``: its latest sample, or (the
    snapshot a run saved) the series written last."""
    for query in queries(dashboard):
        found = [metric for metric, _ in selectors(query.expr)]
        read = _LAST.findall(query.expr)
        read += [
            metric for subquery in _SUBQUERY.findall(query.expr) for metric in subquery[:1] * 2
        ]
        assert sorted(found) == sorted(read), (str(query), query.expr)
    for name in LABEL_VARIABLES:
        expr, _ = variable_query(variables(dashboard)[name])
        assert _LAST.findall(expr) == ["pushrestic_build_info"], name


def test_values_a_run_did_not_know_are_left_out_not_shown_as_minus_one(
    dashboard: dict[str, Any],
) -> None:
    """Remote-write writes -1 for them: every query that shows a value filters it out
    (``>= 0``); those that compare, count series or subtract from now() need not."""
    for query in queries(dashboard):
        expr = query.expr
        compares = any(op in expr for op in ("== ", "> 9", "time() - ", "topk", "count("))
        assert compares or ">= 0" in expr, str(query)


def test_the_lookback_variable_comes_first_and_suits_both_feeds(
    dashboard: dict[str, Any],
) -> None:
    lookback = variables(dashboard)["lookback"]
    assert lookback["type"] == "custom"
    values = lookback["query"].split(",")
    assert [o["value"] for o in lookback["options"]] == values
    assert "5m" in values, "the cheapest for a scraped Pushgateway"
    assert lookback["current"]["value"] == generate.DEFAULT_LOOKBACK
    hours = {"m": 1 / 60, "h": 1, "d": 24}
    default = lookback["current"]["value"]
    assert int(default[:-1]) * hours[default[-1]] >= 27, "a group silent for 27 h still shows"
    assert lookback["multi"] is False
    assert lookback["includeAll"] is False
    assert "remote-write" in lookback["description"]


def test_tables_and_stats_query_instants_and_time_series_ranges(
    dashboard: dict[str, Any],
) -> None:
    for query in queries(dashboard):
        instant = query.panel["type"] in ("table", "stat")
        assert query.target["instant"] is instant, query
        assert query.target["range"] is not instant, query
        table = query.panel["type"] == "table"
        assert query.target["format"] == ("table" if table else "time_series"), query
    for panel in dashboard["panels"]:
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]


# -- variables ----------------------------------------------------------------


def test_the_variables_are_datasource_then_job_instance_location_backend(
    dashboard: dict[str, Any],
) -> None:
    listed = dashboard["templating"]["list"]
    assert [v["name"] for v in listed] == ["datasource", "lookback", *LABEL_VARIABLES]
    source = listed[0]
    assert source["type"] == "datasource"
    assert source["query"] == "prometheus"
    assert source["current"]["value"] == INPUT


def test_label_variables_are_chained_multi_select_with_all(dashboard: dict[str, Any]) -> None:
    found = variables(dashboard)
    for index, name in enumerate(LABEL_VARIABLES):
        variable = found[name]
        assert variable["type"] == "query"
        assert variable["multi"] is True, name
        assert variable["includeAll"] is True, name
        assert variable["allValue"] == ".*", name
        assert variable["current"]["value"] == ["$__all"], name
        assert variable["refresh"] in (1, 2), name
        assert variable["query"]["query"] == variable["definition"], name
        expr, regex = variable_query(variable)
        assert expr.startswith(f"max by ({name}) ("), name
        assert regex.pattern == f'{name}="([^"]*)"', name
        matchers = {k: v for _, m in selectors(expr) for k, v in m.items()}
        earlier = LABEL_VARIABLES[:index]
        assert matchers == {e: ("=~", f"${e}") for e in earlier}, name


# -- units, colours, thresholds ------------------------------------------------


def _unit_of(metrics: frozenset[str]) -> str:
    if all(m.endswith("_bytes") for m in metrics):
        return "bytes"
    if all(m.endswith("_seconds") for m in metrics):
        return "s"
    return "short"


def test_time_series_units_follow_the_metric_names(dashboard: dict[str, Any]) -> None:
    for panel in dashboard["panels"]:
        if panel["type"] != "timeseries":
            continue
        metrics = frozenset().union(*(identifiers(t["expr"]).metrics for t in panel["targets"]))
        unit = panel["fieldConfig"]["defaults"]["unit"]
        expected = _unit_of(metrics)
        if expected == "short":
            assert unit in ("short", "none"), panel["title"]
        else:
            assert unit == expected, panel["title"]


BACKUP_TABLE = "Last backup run per group"
SNAPSHOTS_TABLE = "Latest snapshot per host in the repository"


def _table(dashboard: dict[str, Any], title: str = BACKUP_TABLE) -> dict[str, Any]:
    tables: list[dict[str, Any]] = [p for p in dashboard["panels"] if p["type"] == "table"]
    assert {p["title"] for p in tables} == {BACKUP_TABLE, SNAPSHOTS_TABLE}
    (table,) = [p for p in tables if p["title"] == title]
    return table


def _columns(table: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Column name -> {"expr": query, property: value...} after the organize step."""
    (organize,) = [t["options"] for t in table["transformations"] if t["id"] == "organize"]
    renamed = organize["renameByName"]
    columns: dict[str, dict[str, Any]] = {}
    for target in table["targets"]:
        name = renamed.get(f"Value #{target['refId']}")
        if name is not None:
            columns[name] = {"expr": target["expr"]}
    for item in table["fieldConfig"]["overrides"]:
        assert item["matcher"]["id"] == "byName"
        name = item["matcher"]["options"]
        assert name in columns, f"override for {name!r}, which is no column"
        columns[name].update({p["id"]: p["value"] for p in item["properties"]})
    return columns


def test_the_table_has_one_row_per_group_with_the_last_run(dashboard: dict[str, Any]) -> None:
    table = _table(dashboard)
    assert [t["id"] for t in table["transformations"]] == ["merge", "organize"]
    # Every column's query keeps exactly the group's labels (and no metric name), so that
    # merge joins them into one row per group.
    group = "max by (job, instance, location, backend"
    for target in table["targets"][:-1]:
        assert target["expr"].removeprefix("time() - ").startswith(group), target["refId"]
    # The snapshot of the last run: the info series written last, with its labels.
    assert table["targets"][-1]["expr"].startswith("topk by (job, instance, location, backend) (1,")
    (organize,) = [t["options"] for t in table["transformations"] if t["id"] == "organize"]
    assert organize["renameByName"]["snapshot_id"] == "Snapshot"
    # Organize orders the fields by their names from the queries, then renames them.
    renamed = organize["renameByName"]
    assert set(renamed) <= set(organize["indexByName"])
    assert not set(renamed.values()) & set(organize["indexByName"])
    assert organize["excludeByName"]["Time"] is True
    columns = _columns(table)
    assert list(columns) == [
        "Result",
        "Last run",
        "Since last success",
        "Exit code",
        "Duration",
        "Data added",
        "File errors",
    ]
    assert "restic_backup_info" in table["targets"][-1]["expr"]


def test_the_result_column_maps_success_partial_and_failed_to_colours(
    dashboard: dict[str, Any],
) -> None:
    result = _columns(_table(dashboard))["Result"]
    (mapping,) = result["mappings"]
    shown = {int(k): (v["text"], v["color"]) for k, v in mapping["options"].items()}
    assert shown == {0: ("success", "green"), 1: ("partial", "orange"), 2: ("failed", "red")}
    assert "restic_backup_success" in result["expr"]
    assert "restic_backup_exit_code" in result["expr"]
    assert result["custom.displayMode"] == "color-background"


def test_table_units_and_the_stale_colours(dashboard: dict[str, Any]) -> None:
    columns = _columns(_table(dashboard))
    assert columns["Last run"]["unit"] == "dateTimeAsIso"
    assert columns["Last run"]["expr"].endswith("* 1000")  # Grafana's dates are milliseconds
    assert columns["Duration"]["unit"] == "s"
    assert columns["Data added"]["unit"] == "bytes"
    since = columns["Since last success"]
    assert since["unit"] == "s"
    assert since["expr"].startswith("time() - ")
    steps = [(s["color"], s["value"]) for s in since["thresholds"]["steps"]]
    assert steps == [("green", None), ("orange", 24 * 3600), ("red", 26 * 3600)]


def test_the_stale_threshold_is_the_alert_rules_one(dashboard: dict[str, Any]) -> None:
    document = yaml.safe_load((ALERTING / "rules.yml").read_text())
    (stale,) = [
        r for g in document["groups"] for r in g["rules"] if r.get("alert") == "ResticBackupStale"
    ]
    match = re.search(r">\s*(\d+)\s*$", stale["expr"].strip())
    assert match, stale["expr"]
    seconds = int(match.group(1))
    assert seconds == generate.STALE_SECONDS
    (panel,) = [p for p in dashboard["panels"] if p["title"].startswith("Stale")]
    assert f"> {seconds}" in panel["targets"][0]["expr"]


def test_stats_count_groups_and_show_zero_rather_than_no_data(dashboard: dict[str, Any]) -> None:
    stats = [p for p in dashboard["panels"] if p["type"] == "stat"]
    assert {p["title"] for p in stats} >= {"Failed", "Partial", "Stale (> 26 h)"}
    for panel in stats:
        (target,) = panel["targets"]
        assert target["expr"].startswith("count(")
        assert target["expr"].endswith(" or vector(0)")
        assert panel["fieldConfig"]["defaults"]["color"]["mode"] == "thresholds"


# -- the repository's own truth: restic snapshots --json and restic stats -------


def test_the_snapshots_table_has_one_row_per_repository_and_snapshot_group(
    dashboard: dict[str, Any],
) -> None:
    table = _table(dashboard, SNAPSHOTS_TABLE)
    assert [t["id"] for t in table["transformations"]] == ["merge", "organize"]
    group = (
        "max by (job, instance, location, backend, "
        "snapshot_hostname, snapshot_paths, snapshot_tags)"
    )
    for target in table["targets"]:
        assert target["expr"].removeprefix("time() - ").startswith(group), target["refId"]
    (organize,) = [t["options"] for t in table["transformations"] if t["id"] == "organize"]
    renamed = organize["renameByName"]
    assert (renamed["snapshot_hostname"], renamed["snapshot_paths"]) == ("Host", "Paths")
    columns = _columns(table)
    assert list(columns) == ["Since latest snapshot", "Latest snapshot", "Snapshots listed"]
    since = columns["Since latest snapshot"]
    assert since["unit"] == "s"
    assert "restic_snapshots_latest_timestamp_seconds" in since["expr"]
    steps = [(s["color"], s["value"]) for s in since["thresholds"]["steps"]]
    assert steps == [("green", None), ("orange", 24 * 3600), ("red", 26 * 3600)]
    assert columns["Latest snapshot"]["expr"].endswith("* 1000")
    assert table["options"]["sortBy"] == [{"displayName": "Since latest snapshot", "desc": True}]


def test_the_snapshot_threshold_is_the_snapshot_alerts_one(dashboard: dict[str, Any]) -> None:
    document = yaml.safe_load((ALERTING / "rules.yml").read_text())
    (rule,) = [
        r for g in document["groups"] for r in g["rules"] if r.get("alert") == "ResticSnapshotStale"
    ]
    match = re.search(r">\s*(\d+)\s*$", rule["expr"].strip())
    assert match, rule["expr"]
    assert int(match.group(1)) == generate.STALE_SECONDS
    (panel,) = [p for p in dashboard["panels"] if p["title"].startswith("Hosts without")]
    (target,) = panel["targets"]
    assert "restic_snapshots_latest_timestamp_seconds" in target["expr"]
    assert f"> {generate.STALE_SECONDS}" in target["expr"]


def test_the_repository_panels_come_after_the_backup_ones(dashboard: dict[str, Any]) -> None:
    titles = [panel["title"] for panel in dashboard["panels"]]
    first = titles.index("Hosts without a snapshot (> 26 h)")
    assert titles[first:] == [
        "Hosts without a snapshot (> 26 h)",
        SNAPSHOTS_TABLE,
        "Time since latest snapshot",
        "Repository size (restic stats)",
    ]
    size = dashboard["panels"][titles.index("Repository size (restic stats)")]
    assert size["fieldConfig"]["defaults"]["unit"] == "bytes"
    assert any("{{mode}}" in t["legendFormat"] for t in size["targets"])
