"""The textfile sink: what node_exporter reads, as prometheus_client writes it."""

from __future__ import annotations

import fcntl
import logging
import os
import stat
import threading
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pushrestic.errors import DeliveryError
from pushrestic.model import (
    BackupResult,
    CheckResult,
    ExitCodeSource,
    Outcome,
    ResticOutput,
    Run,
)
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
    for family in text_string_to_metric_families(path.read_bytes().decode()):
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


def test_a_last_success_time_in_the_future_is_not_carried_forward(tmp_path: Path) -> None:
    path = tmp_path / "restic.prom"
    write(path, [run("docs", 0, 4.1e9), run("mail", 0, 100.0)])
    write(path, [run("docs", 1, 200.0), run("mail", 1, 200.0)], now=300.0)
    assert values(path, "restic_backup_last_success_timestamp_seconds") == {"mail": 100.0}


def test_a_series_found_twice_in_the_file_is_written_once(tmp_path: Path) -> None:
    path = tmp_path / "restic.prom"
    write(path, [run("docs", 0, 100.0)])
    path.write_bytes(path.read_bytes() * 2)
    write(path, [run("mail", 0, 200.0)])
    text = path.read_bytes().decode()
    assert text.count('restic_backup_success{backend="local",location="docs"}') == 1


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


@pytest.mark.parametrize(
    "broken",
    [b"this is { not an exposition\n", b'restic_backup_success{location="\xff"} 1\n'],
    ids=["not-an-exposition", "not-utf-8"],
)
def test_a_file_that_cannot_be_parsed_is_kept_aside_and_named_in_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, broken: bytes
) -> None:
    path = tmp_path / "restic.prom"
    path.write_bytes(broken)
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        write(path, [run("docs", 0, 100.0)])

    assert values(path, "restic_backup_success") == {"docs": 1.0}
    (kept,) = tmp_path.glob("restic.prom.broken-*")
    assert kept.read_bytes() == broken
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert not kept.name.endswith(".prom")  # node_exporter reads *.prom only
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert str(kept) in warning.getMessage()
    assert str(path) in warning.getMessage()


def test_a_second_broken_file_in_the_same_second_is_kept_beside_the_first(
    tmp_path: Path,
) -> None:
    path = tmp_path / "restic.prom"
    for text in (b"first {\n", b"second {\n"):
        path.write_bytes(text)
        write(path, [run("docs", 0, 100.0)])
    kept = sorted(p.read_bytes() for p in tmp_path.glob("restic.prom.broken-*"))
    assert kept == [b"first {\n", b"second {\n"]


def backup(location: str, code: int, ended: float, snapshot: str | None = None) -> Run:
    output = ResticOutput(backup=BackupResult(snapshot_id=snapshot), restic_version="0.16.4")
    return Run(location, "local", Outcome(code, ExitCodeSource.GIVEN), output, ended)


def test_a_carriage_return_in_a_label_keeps_every_other_group(tmp_path: Path) -> None:
    path = tmp_path / "restic.prom"
    write(path, [run("docs", 0, 100.0)])
    write(path, [backup("a\rb", 0, 200.0, snapshot="1c801e48\r")], {"env": "x\ry"})
    write(path, [run("mail", 1, 300.0)])
    write(path, [run("docs", 1, 400.0)])

    assert values(path, "restic_backup_success") == {"docs": 0.0, "a\rb": 1.0, "mail": 0.0}
    assert values(path, "restic_backup_last_success_timestamp_seconds") == {
        "docs": 100.0,
        "a\rb": 200.0,
    }
    families = text_string_to_metric_families(path.read_bytes().decode())
    (info,) = [s for f in families if f.name == "restic_backup_info" for s in f.samples]
    assert info.labels["snapshot_id"] == "1c801e48\r"
    assert info.labels["env"] == "x\ry"
    assert list(tmp_path.glob("*.broken-*")) == []


def test_a_metric_split_over_two_families_keeps_the_groups_of_both(tmp_path: Path) -> None:
    path = tmp_path / "restic.prom"
    write(path, [run("docs", 0, 100.0)])
    text = path.read_bytes()
    write(path, [run("mail", 0, 200.0)])
    path.write_bytes(path.read_bytes() + text.replace(b"docs", b"home"))

    write(path, [run("docs", 1, 300.0)])

    assert values(path, "restic_backup_success") == {"docs": 0.0, "mail": 1.0, "home": 1.0}


def finishes(target: object, path: Path) -> bool:
    """Whether ``target()`` ends within a generous bound; unblocks a FIFO reader if not."""
    assert callable(target)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            target()
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(timeout=30)
    if thread.is_alive():  # the old code blocks opening the FIFO: give it a writer
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(timeout=30)
        return False
    if errors:
        raise errors[0]
    return True


def test_a_fifo_at_the_textfile_path_is_refused_without_hanging(tmp_path: Path) -> None:
    path = tmp_path / "restic.prom"
    os.mkfifo(path)

    def attempt() -> None:
        with pytest.raises(DeliveryError, match=rf"{path}: not a regular file"):
            write(path, [run("docs", 0, 100.0)])

    assert finishes(attempt, path)
    assert stat.S_ISFIFO(path.lstat().st_mode)


def test_a_symlink_at_the_textfile_path_is_refused_and_left_alone(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_bytes(b"not yours\n")
    path = tmp_path / "restic.prom"
    path.symlink_to(target)
    with pytest.raises(DeliveryError, match=rf"{path}: is a symbolic link"):
        write(path, [run("docs", 0, 100.0)])
    assert path.is_symlink()
    assert target.read_bytes() == b"not yours\n"


def test_a_textfile_locked_by_another_writer_is_a_delivery_error_after_the_timeout(
    tmp_path: Path,
) -> None:
    path = tmp_path / "restic.prom"
    lock = tmp_path / ".restic.prom.lock"
    holder = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        with pytest.raises(DeliveryError, match=r"still locked by another pushrestic after 0 s"):
            write(path, [run("docs", 0, 100.0)], timeout=0)
    finally:
        os.close(holder)
    assert not path.exists()


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
