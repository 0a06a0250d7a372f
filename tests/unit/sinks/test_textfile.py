"""The textfile sink: what node_exporter reads, as prometheus_client writes it."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pushrestic.errors import DeliveryError
from pushrestic.model import CheckResult, ExitCodeSource, Outcome, ResticOutput, Run
from pushrestic.sinks.textfile import render, with_last_success, write


def test_rendering_has_no_sample_timestamps_and_one_type_line_per_metric() -> None:
    runs = [
        Run("a", "local", Outcome(0, ExitCodeSource.GIVEN), ResticOutput(), 10.0),
        Run("b", "usb", Outcome(1, ExitCodeSource.GIVEN), ResticOutput(), 20.0),
    ]
    text = render(runs).decode()
    families = list(text_string_to_metric_families(text))
    assert len({f.name for f in families}) == len(families)
    assert all(s.timestamp is None for f in families for s in f.samples)
    assert text.count("# TYPE restic_backup_success gauge\n") == 1


def test_rendering_nothing_gives_an_empty_exposition() -> None:
    assert render([]) == b""


def run(location: str, code: int, ended: float) -> Run:
    return Run(location, "local", Outcome(code, ExitCodeSource.GIVEN), ResticOutput(), ended)


def values(path: Path, name: str) -> dict[str, float]:
    found = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            if sample.name == name:
                found[sample.labels["location"]] = sample.value
    return found


def test_writing_keeps_the_other_groups_already_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "restic.prom"
    write(path, [run("docs", 0, 100.0)])
    write(path, [run("mail", 1, 200.0)])
    assert values(path, "restic_backup_success") == {"docs": 1.0, "mail": 0.0}


def test_a_failed_run_keeps_the_last_success_time_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "restic.prom"
    write(path, [run("docs", 0, 100.0)])
    write(path, [run("docs", 1, 200.0)])
    assert values(path, "restic_backup_success") == {"docs": 0.0}
    assert values(path, "restic_backup_last_success_timestamp_seconds") == {"docs": 100.0}
    assert values(path, "restic_backup_last_run_timestamp_seconds") == {"docs": 200.0}


def test_a_new_run_replaces_its_group_entirely(tmp_path: Path) -> None:
    path = tmp_path / "restic.prom"
    write(path, [run("docs", 1, 100.0)])
    write(path, [run("docs", 0, 300.0)])
    assert values(path, "restic_backup_exit_code") == {"docs": 0.0}
    assert path.read_text().count("# TYPE restic_backup_success gauge") == 1


def test_the_file_is_world_readable_and_no_temporary_file_is_left(tmp_path: Path) -> None:
    path = tmp_path / "restic.prom"
    write(path, [run("docs", 0, 100.0)])
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == [".restic.prom.lock", "restic.prom"]


def test_a_textfile_must_end_in_prom(tmp_path: Path) -> None:
    with pytest.raises(DeliveryError, match=r"\.prom"):
        write(tmp_path / "restic.txt", [run("docs", 0, 1.0)])


def test_a_missing_directory_is_a_delivery_error(tmp_path: Path) -> None:
    with pytest.raises(DeliveryError, match="no such directory"):
        write(tmp_path / "nope" / "restic.prom", [run("docs", 0, 1.0)])


def test_a_broken_existing_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "restic.prom"
    path.write_text("this is { not an exposition\n")
    write(path, [run("docs", 0, 100.0)])
    assert values(path, "restic_backup_success") == {"docs": 1.0}


def test_a_spooled_body_gets_the_last_success_time_it_lacked() -> None:
    failed = Run("docs", "local", Outcome(1, ExitCodeSource.GIVEN), ResticOutput(), 50.0)
    body = render([failed], {"env": "prod"})
    fixed = with_last_success(body, 40.0)
    families = {f.name: f for f in text_string_to_metric_families(fixed.decode())}
    (sample,) = families["restic_backup_last_success_timestamp_seconds"].samples
    assert sample.value == 40.0
    assert sample.labels == {"location": "docs", "backend": "local", "env": "prod"}
    assert families["restic_backup_success"].samples[0].value == 0


def test_a_body_that_has_a_last_success_time_is_left_as_it_is() -> None:
    body = render([run("docs", 0, 100.0)])
    assert with_last_success(body, 1.0) == body


def test_a_check_run_keeps_the_backup_series_of_its_location(tmp_path: Path) -> None:
    path = tmp_path / "restic.prom"
    write(path, [run("docs", 0, 100.0)])
    check = Run(
        "docs",
        "local",
        Outcome(0, ExitCodeSource.INFERRED),
        ResticOutput(check=CheckResult(ok=True)),
        200.0,
    )
    write(path, [check])
    assert values(path, "restic_backup_success") == {"docs": 1.0}
    assert values(path, "restic_backup_last_success_timestamp_seconds") == {"docs": 100.0}
    assert values(path, "restic_check_success") == {"docs": 1.0}
