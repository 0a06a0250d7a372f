"""The metric catalogue: names, labels, values left out when unknown, README table."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path

import pytest
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from pushrestic.collect import InputSpec, collect_runs
from pushrestic.config import add_label_argument, load
from pushrestic.errors import ExpositionError, UsageError
from pushrestic.metrics import (
    CATALOGUE,
    MAX_LABEL_VALUE,
    METRIC_NAMES,
    RunsCollector,
    build_registry,
    check_exposition,
    check_label_name,
    is_label_name,
)
from pushrestic.model import (
    BackupResult,
    BackupSummary,
    CheckResult,
    ExitCodeSource,
    ForgetResult,
    Outcome,
    PruneResult,
    ResticOutput,
    Run,
    SnapshotGroup,
    SnapshotsResult,
    StatsResult,
    StepTiming,
)
from pushrestic.sinks.textfile import render
from tests.conftest import SAMPLES

README = Path(__file__).parents[2] / "README.md"

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def series(runs: list[Run], labels: dict[str, str] | None = None) -> Series:
    text = render(runs, labels).decode()
    out: Series = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def parse_labels(pairs: Sequence[str]) -> dict[str, str]:
    """The labels ``--label PAIR`` … gives, as the settings resolve them (UsageError)."""
    parser = argparse.ArgumentParser()
    add_label_argument(parser)
    args = parser.parse_args([word for pair in pairs for word in ("--label", pair)])
    found: dict[str, str] = load(args, {"XDG_CONFIG_HOME": "/nonexistent"}).get("labels")
    return found


def group_registries(runs: Sequence[Run]) -> dict[tuple[str, str, str], CollectorRegistry]:
    """One registry per group, the last run of each, as each group is pushed."""
    latest = {run.group: run for run in runs}
    return {group: build_registry([run]) for group, run in latest.items()}


def names(found: Series) -> set[str]:
    return {name for name, _ in found}


def backup_run(exit_code: int | None = 0, **summary: int | float | None) -> Run:
    full = BackupSummary(
        files_new=1,
        files_changed=2,
        files_unmodified=3,
        dirs_new=0,
        dirs_changed=1,
        dirs_unmodified=4,
        processed_files=6,
        processed_bytes=600,
        added_bytes=100,
        duration_seconds=7.0,
    )
    fields = {**{f: getattr(full, f) for f in full.__slots__}, **summary}
    backup = BackupResult(summary=BackupSummary(**fields), snapshot_id="45fbd684")
    source = ExitCodeSource.GIVEN if exit_code is not None else ExitCodeSource.UNKNOWN
    return Run("docs", "local", Outcome(exit_code, source), ResticOutput(backup=backup), 1000.0)


GROUP = frozenset({("location", "docs"), ("backend", "local")})


def test_catalogue_names_are_unique_and_in_base_units() -> None:
    assert len(set(METRIC_NAMES)) == len(METRIC_NAMES)
    for name in METRIC_NAMES:
        assert re.fullmatch(r"(restic|pushrestic)_[a-z_]+", name)
        assert not name.endswith("_total"), "all catalogue metrics are gauges"


def test_a_successful_backup_reports_every_summary_value() -> None:
    found = series([backup_run(0)])
    assert found[("restic_backup_success", GROUP)] == 1
    assert found[("restic_backup_exit_code", GROUP)] == 0
    assert found[("restic_backup_last_success_timestamp_seconds", GROUP)] == 1000.0
    assert found[("restic_backup_last_run_timestamp_seconds", GROUP)] == 1000.0
    assert found[("restic_backup_files", GROUP | {("state", "changed")})] == 2
    assert found[("restic_backup_dirs", GROUP | {("state", "unmodified")})] == 4
    assert found[("restic_backup_processed_bytes", GROUP)] == 600
    assert found[("restic_backup_duration_seconds", GROUP)] == 7.0
    # An unknown version is left out: an empty label value is no label to Prometheus.
    info = GROUP | {("snapshot_id", "45fbd684")}
    assert found[("restic_backup_info", info)] == 1


def test_a_failed_backup_keeps_no_last_success_time() -> None:
    found = series([backup_run(1)])
    assert found[("restic_backup_success", GROUP)] == 0
    assert found[("restic_backup_exit_code", GROUP)] == 1
    assert "restic_backup_last_success_timestamp_seconds" not in names(found)


def test_a_partial_backup_is_not_a_success() -> None:
    found = series([backup_run(3)])
    assert found[("restic_backup_success", GROUP)] == 0
    assert found[("restic_backup_exit_code", GROUP)] == 3


def test_an_unknown_exit_code_is_left_out_not_zero() -> None:
    found = series([backup_run(None)])
    assert found[("restic_backup_success", GROUP)] == 0
    assert "restic_backup_exit_code" not in names(found)


def test_values_the_input_does_not_carry_are_left_out() -> None:
    found = series([backup_run(0, added_bytes=None, duration_seconds=None)])
    assert "restic_backup_added_bytes" not in names(found)
    assert "restic_backup_added_stored_bytes" not in names(found)
    assert "restic_backup_duration_seconds" not in names(found)
    assert "restic_backup_blobs" not in names(found)


def test_zero_values_are_reported_as_zero() -> None:
    found = series([backup_run(0, added_bytes=0)])
    assert found[("restic_backup_added_bytes", GROUP)] == 0
    assert found[("restic_backup_errors", GROUP)] == 0


def test_a_dry_run_succeeds_without_claiming_a_backup() -> None:
    backup = BackupResult(summary=BackupSummary(files_new=1, dry_run=True), snapshot_id="662d49e8")
    run = Run(
        "docs", "local", Outcome(0, ExitCodeSource.INFERRED), ResticOutput(backup=backup), 5.0
    )
    found = series([run])
    assert found[("restic_backup_success", GROUP)] == 1
    assert "restic_backup_last_success_timestamp_seconds" not in names(found)
    assert "restic_backup_info" not in names(found), "a dry run's snapshot id does not exist"


def test_forget_prune_and_check_runs_report_their_own_series_only() -> None:
    output = ResticOutput(
        forget=ForgetResult(kept_snapshots=3, removed_snapshots=2),
        prune=PruneResult(freed_bytes=2525, removed_blobs=8, repository_size_bytes=10_000),
        check=CheckResult(ok=True),
    )
    run = Run("docs", "local", Outcome(0, ExitCodeSource.INFERRED), output, 9.0)
    found = series([run])
    group = GROUP | {("operation", "check")}
    assert found[("restic_forget_removed_snapshots", group)] == 2
    assert found[("restic_forget_kept_snapshots", group)] == 3
    assert found[("restic_prune_freed_bytes", group)] == 2525
    assert found[("restic_repository_size_bytes", group)] == 10_000
    assert found[("restic_check_success", group)] == 1
    assert found[("restic_check_last_run_timestamp_seconds", group)] == 9.0
    assert not {n for n in names(found) if n.startswith("restic_backup_")}


@pytest.mark.parametrize(
    ("output", "operation"),
    [
        (ResticOutput(check=CheckResult(ok=True)), "check"),
        (ResticOutput(forget=ForgetResult(1, 1), prune=PruneResult(freed_bytes=1)), "forget"),
        (ResticOutput(prune=PruneResult(freed_bytes=1)), "prune"),
        (ResticOutput(stats=(StatsResult("raw-data", 1),)), "stats"),
        (ResticOutput(snapshots=SnapshotsResult((), 0)), "snapshots"),
    ],
)
def test_a_maintenance_run_is_a_group_of_its_own(output: ResticOutput, operation: str) -> None:
    backup = backup_run(0)
    maintenance = Run("docs", "local", Outcome(0, ExitCodeSource.INFERRED), output, 9.0)
    assert maintenance.operation == operation
    assert backup.operation is None
    assert maintenance.group != backup.group
    registries = group_registries([backup, maintenance])
    assert set(registries) == {("docs", "local", ""), ("docs", "local", operation)}


def test_a_backup_log_that_also_shows_a_forget_stays_one_backup_group() -> None:
    backup = BackupResult(summary=BackupSummary(files_new=1), snapshot_id="45fbd684")
    output = ResticOutput(backup=backup, forget=ForgetResult(2, 1))
    run = Run("docs", "local", Outcome(0, ExitCodeSource.INFERRED), output, 9.0)
    assert run.operation is None
    found = series([run])
    assert found[("restic_forget_removed_snapshots", GROUP)] == 1


def test_a_check_that_found_errors_reports_failure() -> None:
    output = ResticOutput(check=CheckResult(ok=False, errors=2))
    run = Run("docs", "local", Outcome(None, ExitCodeSource.UNKNOWN), output, 9.0)
    found = series([run])
    check = GROUP | {("operation", "check")}
    assert found[("restic_check_success", check)] == 0
    assert found[("restic_check_errors", check)] == 2


def test_groups_are_merged_with_one_help_and_type_per_metric() -> None:
    other = Run("mail", "usb", Outcome(1, ExitCodeSource.GIVEN), ResticOutput(), 3.0)
    text = render([backup_run(0), other]).decode()
    assert text.count("# TYPE restic_backup_success gauge") == 1
    found = series([backup_run(0), other])
    assert (
        found[("restic_backup_success", frozenset({("location", "mail"), ("backend", "usb")}))] == 0
    )


def test_user_labels_are_on_every_series() -> None:
    found = series([backup_run(0)], {"env": "prod"})
    assert all(("env", "prod") in labels for _, labels in found)


@pytest.mark.parametrize(
    "pair", ["instance=x", "location=y", "state=z", "1bad=v", "__x=v", "novalue"]
)
def test_reserved_or_malformed_labels_are_refused(pair: str) -> None:
    with pytest.raises(UsageError):
        parse_labels([pair])


def test_label_values_with_quotes_and_newlines_are_escaped_by_the_library() -> None:
    found = series([backup_run(0)], {"note": 'a "b"\nc\\'})
    assert all(("note", 'a "b"\nc\\') in labels for _, labels in found)


def test_the_registry_is_a_fresh_one_per_call() -> None:
    first = build_registry([backup_run(0)])
    second = build_registry([])
    assert first is not second
    assert list(second.collect()) == []


def test_the_readme_metric_table_matches_the_catalogue() -> None:
    rows = re.findall(r"^\| `([a-z_]+)` \| ([^|]*) \| ([^|]*) \|$", README.read_text(), re.M)
    table = {name: (labels.strip(), text.strip()) for name, labels, text in rows}
    assert list(table) == list(METRIC_NAMES)
    for spec in CATALOGUE:
        assert table[spec.name] == (", ".join(spec.labels), spec.help)


def test_each_group_gets_its_own_registry_with_only_its_series() -> None:
    other = Run("mail", "usb", Outcome(1, ExitCodeSource.GIVEN), ResticOutput(), 3.0)
    registries = group_registries([backup_run(0), other])
    assert set(registries) == {("docs", "local", ""), ("mail", "usb", "")}
    mail = registries[("mail", "usb", "")]
    assert (
        mail.get_sample_value("restic_backup_success", {"location": "mail", "backend": "usb"}) == 0
    )
    assert (
        mail.get_sample_value("restic_backup_success", {"location": "docs", "backend": "local"})
        is None
    )


# The guard: pushrestic's own exposition is checked before any sink.


def family(name: str, kind: str, *samples: tuple[str, dict[str, str], float]) -> Metric:
    metric = Metric(name, "help", kind)
    for sample_name, labels, value in samples:
        metric.add_sample(sample_name, labels, value)
    return metric


STEP = "restic_unit_step_duration_seconds"


def test_two_steps_with_the_same_labels_are_refused_as_a_bug_naming_the_series() -> None:
    step = StepTiming("backup.service", "restic", "restic", 1.0)
    run = Run(
        "srv", "default", Outcome(0, ExitCodeSource.GIVEN), ResticOutput(), 9.0, steps=(step, step)
    )
    with pytest.raises(ExpositionError) as caught:
        check_exposition(RunsCollector([run]).collect())
    message = str(caught.value)
    assert message.startswith("a bug: ")
    assert STEP in message
    assert 'step="restic"' in message
    assert 'location="srv"' in message
    assert "\n" not in message


def test_steps_with_distinct_names_pass_the_guard() -> None:
    steps = (
        StepTiming("backup.service", "restic", "restic", 1.0),
        StepTiming("backup.service", "restic#2", "restic", 2.0),
    )
    run = Run("srv", "default", Outcome(0, ExitCodeSource.GIVEN), ResticOutput(), 9.0, steps=steps)
    check_exposition(RunsCollector([run]).collect())


def test_the_same_group_twice_is_refused() -> None:
    with pytest.raises(ExpositionError, match="restic_backup_success"):
        check_exposition(RunsCollector([backup_run(0), backup_run(1)]).collect())


def test_a_metric_declared_twice_is_refused() -> None:
    families = [
        family("restic_backup_success", "gauge", ("restic_backup_success", {"a": "1"}, 1.0)),
        family("restic_backup_success", "gauge", ("restic_backup_success", {"a": "2"}, 1.0)),
    ]
    with pytest.raises(ExpositionError, match=r"restic_backup_success.*declared twice"):
        check_exposition(families)


def test_a_sample_that_does_not_fit_its_familys_type_is_refused() -> None:
    families = [family("restic_backup_success", "gauge", ("restic_backup_success_total", {}, 1))]
    with pytest.raises(ExpositionError, match=r"restic_backup_success_total.*gauge"):
        check_exposition(families)


def test_two_families_that_give_the_same_series_name_are_refused() -> None:
    families = [
        family("x", "summary", ("x_count", {}, 1.0), ("x_sum", {}, 2.0)),
        family("x_count", "gauge", ("x_count", {"a": "b"}, 1.0)),
    ]
    with pytest.raises(ExpositionError, match="x_count"):
        check_exposition(families)


def test_samples_that_fit_their_types_pass() -> None:
    families = [
        family("c", "counter", ("c_total", {}, 1.0), ("c_created", {}, 1.0)),
        family("h", "histogram", ("h_bucket", {"le": "+Inf"}, 1.0), ("h_count", {}, 1.0)),
        family("i", "info", ("i_info", {"v": "1"}, 1.0)),
        family("g", "gauge", ("g", {"a": "1"}, 1.0), ("g", {"a": "2"}, 1.0)),
    ]
    check_exposition(families)


@pytest.mark.parametrize("name", ["1bad", "__reserved", "with-dash"])
def test_a_malformed_label_name_is_refused(name: str) -> None:
    with pytest.raises(ExpositionError, match="label name"):
        check_exposition([family("g", "gauge", ("g", {name: "v"}, 1.0))])


def test_a_label_value_that_is_not_unicode_text_is_refused() -> None:
    with pytest.raises(ExpositionError, match="UTF-8"):
        check_exposition([family("g", "gauge", ("g", {"a": "bad \udcff"}, 1.0))])


def test_a_label_value_with_line_breaks_is_named_on_one_line() -> None:
    step = StepTiming("backup.service", "a\r\nb\u2028c\x85d", "c", 1.0)
    run = Run("x", "y", Outcome(0, ExitCodeSource.GIVEN), ResticOutput(), 9.0, steps=(step, step))
    with pytest.raises(ExpositionError) as caught:
        check_exposition(RunsCollector([run]).collect())
    assert len(str(caught.value).splitlines()) == 1


SAMPLE_LOGS = sorted(
    path.name for path in SAMPLES.iterdir() if path.suffix in (".log", ".jsonl", ".json")
)


@pytest.mark.parametrize("name", SAMPLE_LOGS)
def test_the_exposition_of_every_sample_passes_the_guard(name: str) -> None:
    collected = collect_runs(InputSpec(path=str(SAMPLES / name)))
    check_exposition(RunsCollector(collected.runs, {"env": "prod"}).collect())
    for registry in group_registries(collected.runs).values():
        check_exposition(registry.collect())


# -- restic stats and restic snapshots --json -------------------------------------

STATS = GROUP | {("operation", "stats")}
SNAPSHOTS = GROUP | {("operation", "snapshots")}


def stats_run(*results: StatsResult) -> Run:
    output = ResticOutput(stats=results)
    return Run("docs", "local", Outcome(0, ExitCodeSource.INFERRED), output, 9.0)


def snapshots_run(*groups: SnapshotGroup, total: int | None = None) -> Run:
    listed = sum(g.snapshots for g in groups) if total is None else total
    output = ResticOutput(snapshots=SnapshotsResult(groups, listed))
    return Run("docs", "local", Outcome(0, ExitCodeSource.INFERRED), output, 9.0)


def test_a_stats_run_reports_each_mode_with_its_own_values_and_no_backup_series() -> None:
    found = series(
        [
            stats_run(
                StatsResult("restore-size", 1000, snapshots=3, files=12),
                StatsResult(
                    "raw-data",
                    400,
                    snapshots=3,
                    blobs=7,
                    uncompressed_size_bytes=500,
                    compression_ratio=1.25,
                    compression_progress_ratio=1.0,
                    compression_space_saving_ratio=0.2,
                ),
            )
        ]
    )
    restore = STATS | {("mode", "restore-size")}
    raw = STATS | {("mode", "raw-data")}
    assert {key: value for key, value in found.items() if "mode" in dict(key[1])} == {
        ("restic_stats_size_bytes", restore): 1000,
        ("restic_stats_size_bytes", raw): 400,
        ("restic_stats_files", restore): 12,
        ("restic_stats_blobs", raw): 7,
        ("restic_stats_snapshots", restore): 3,
        ("restic_stats_snapshots", raw): 3,
        ("restic_stats_uncompressed_size_bytes", raw): 500,
        ("restic_stats_compression_ratio", raw): 1.25,
        ("restic_stats_compression_progress_ratio", raw): 1.0,
        ("restic_stats_compression_space_saving_ratio", raw): 0.2,
    }
    assert found[("restic_stats_last_run_timestamp_seconds", STATS)] == 9.0
    assert names(found) - {n for n in names(found) if n.startswith("restic_stats_")} == {
        "pushrestic_build_info"
    }


def test_a_stats_count_of_zero_is_reported_as_zero() -> None:
    found = series([stats_run(StatsResult("restore-size", 0, snapshots=0, files=0))])
    restore = STATS | {("mode", "restore-size")}
    assert found[("restic_stats_files", restore)] == 0
    assert found[("restic_stats_size_bytes", restore)] == 0
    assert ("restic_stats_blobs", restore) not in found


def test_a_snapshots_run_reports_every_group_and_the_total() -> None:
    found = series(
        [
            snapshots_run(
                SnapshotGroup("a", ("/etc", "/srv"), (), 4, 1000.5),
                SnapshotGroup("b", (), ("daily", "srv"), 1, 900.0),
            )
        ]
    )
    # Labels restic did not group by are empty, so left out (no label to Prometheus).
    a = SNAPSHOTS | {("snapshot_hostname", "a"), ("snapshot_paths", "/etc,/srv")}
    b = SNAPSHOTS | {("snapshot_hostname", "b"), ("snapshot_tags", "daily,srv")}
    assert found[("restic_snapshots_latest_timestamp_seconds", a)] == 1000.5
    assert found[("restic_snapshots_latest_timestamp_seconds", b)] == 900.0
    assert found[("restic_snapshots_group_listed", a)] == 4
    assert found[("restic_snapshots_group_listed", b)] == 1
    assert found[("restic_snapshots_listed", SNAPSHOTS)] == 5
    assert found[("restic_snapshots_last_run_timestamp_seconds", SNAPSHOTS)] == 9.0
    assert not {n for n in names(found) if n.startswith("restic_backup_")}


def test_an_empty_repository_reports_zero_snapshots_and_no_latest_time() -> None:
    found = series([snapshots_run(total=0)])
    assert found[("restic_snapshots_listed", SNAPSHOTS)] == 0
    assert "restic_snapshots_latest_timestamp_seconds" not in names(found)


def test_a_group_listed_empty_counts_zero_without_a_latest_time() -> None:
    found = series([snapshots_run(SnapshotGroup("a", (), (), 0, None))])
    assert {name for name, _ in found if name.startswith("restic_snapshots_")} == {
        "restic_snapshots_group_listed",
        "restic_snapshots_listed",
        "restic_snapshots_last_run_timestamp_seconds",
    }


def test_a_long_paths_label_is_cut_and_distinct_lists_stay_distinct() -> None:
    many = tuple(f"/srv/data/project-{n:05d}" for n in range(2000))
    other = (*many[:-1], "/srv/data/other")
    found = series(
        [
            snapshots_run(
                SnapshotGroup("a", many, (), 1, 10.0), SnapshotGroup("a", other, (), 1, 20.0)
            )
        ]
    )
    values = [
        dict(labels)["snapshot_paths"]
        for name, labels in found
        if name == "restic_snapshots_latest_timestamp_seconds"
    ]
    assert len(values) == 2
    assert len(set(values)) == 2
    assert all(len(value) <= MAX_LABEL_VALUE for value in values)
    assert all(value.startswith("/srv/data/project-00000,") for value in values)
    assert all("(2000 items, " in value for value in values)


def test_groups_whose_labels_coincide_are_merged_into_one_series() -> None:
    # ["a,b"] and ["a", "b"] join to the same label value: one series, never two.
    found = series(
        [
            snapshots_run(
                SnapshotGroup("h", ("a,b",), (), 2, 10.0),
                SnapshotGroup("h", ("a", "b"), (), 3, 30.0),
            )
        ]
    )
    labels = SNAPSHOTS | {("snapshot_hostname", "h"), ("snapshot_paths", "a,b")}
    assert found[("restic_snapshots_group_listed", labels)] == 5
    assert found[("restic_snapshots_latest_timestamp_seconds", labels)] == 30.0
    check_exposition(
        RunsCollector(
            [
                snapshots_run(
                    SnapshotGroup("h", ("a,b",), (), 2, 10.0),
                    SnapshotGroup("h", ("a", "b"), (), 3, 30.0),
                )
            ]
        ).collect()
    )


def test_a_host_name_that_is_not_unicode_text_is_made_printable_not_refused() -> None:
    # JSON may carry a lone surrogate (\ud800); UTF-8 cannot encode it.
    run = snapshots_run(SnapshotGroup("bad\ud800host", ("/srv\nx",), (), 1, 10.0))
    check_exposition(RunsCollector([run]).collect())
    found = series([run])
    (labels,) = [dict(k[1]) for k in found if k[0] == "restic_snapshots_group_listed"]
    assert labels["snapshot_hostname"] == "bad?host"
    assert labels["snapshot_paths"] == "/srv\nx"


@pytest.mark.parametrize("name", ["mode", "snapshot_hostname", "snapshot_paths", "snapshot_tags"])
def test_the_labels_of_stats_and_snapshots_are_reserved(name: str) -> None:
    with pytest.raises(UsageError, match="reserved"):
        parse_labels([f"{name}=x"])


@pytest.mark.parametrize("name", ["1bad", "__reserved", "__name__", "with-dash", "", "é"])
def test_a_malformed_label_name_is_refused_alike_from_a_user_and_in_an_exposition(
    name: str,
) -> None:
    assert not is_label_name(name)
    with pytest.raises(UsageError, match="not a valid Prometheus label name"):
        check_label_name(name)
    with pytest.raises(ExpositionError, match="bad label name"):
        check_exposition([family("g", "gauge", ("g", {name: "v"}, 1.0))])


def test_a_reserved_label_is_refused_from_a_user_but_valid_in_an_exposition() -> None:
    assert is_label_name("instance")
    with pytest.raises(UsageError, match="reserved"):
        check_label_name("instance")
    check_exposition([family("g", "gauge", ("g", {"instance": "v"}, 1.0))])
    check_label_name("env_2")
