"""The spool: one entry per group, atomic 0600 files, last success never backwards."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pushrestic.errors import DeliveryError
from pushrestic.sinks.pushgateway.spool import Spool, SpoolEntry, UntrustedSpool, group_id

KEY = {"instance": "h", "location": "docs", "backend": "local"}


def entry(body: bytes, last: float | None, at: float = 1.0) -> SpoolEntry:
    return SpoolEntry("http://gw:9091", "restic", dict(KEY), body, last, at)


def test_a_spooled_entry_reads_back_exactly(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    first = entry(b"restic_backup_success 1.0\n", 100.0)
    spool.put(first)
    assert spool.get(first.group_id) == first
    assert spool.groups() == [first.group_id]


def test_files_are_private(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.put(entry(b"x 1\n", None))
    assert stat.S_IMODE((tmp_path / "spool").stat().st_mode) == 0o700
    for path in (tmp_path / "spool").glob("*.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_latest_state_wins_but_the_last_success_never_goes_back(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.put(entry(b"old 1\n", 200.0))
    spool.put(entry(b"new 1\n", None, at=2.0))
    kept = spool.get(group_id("http://gw:9091", "restic", KEY))
    assert kept is not None
    assert kept.body == b"new 1\n"
    assert kept.last_success == 200.0
    assert len(spool.groups()) == 1


def test_a_corrupt_entry_is_set_aside_not_trusted(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    good = entry(b"x 1\n", 1.0)
    spool.put(good)
    (tmp_path / f"{good.group_id}.json").write_text("{not json")
    assert spool.get(good.group_id) is None
    assert [p.name.split("-")[0] for p in tmp_path.glob("*.broken-*")] == [
        f"{good.group_id}.broken"
    ]


def test_group_ids_differ_by_gateway_job_and_key() -> None:
    base = group_id("http://gw:9091", "restic", KEY)
    assert base == group_id("http://gw:9091/", "restic", dict(reversed(list(KEY.items()))))
    assert base != group_id("http://other:9091", "restic", KEY)
    assert base != group_id("http://gw:9091", "other", KEY)
    assert base != group_id("http://gw:9091", "restic", {**KEY, "backend": "usb"})


def test_removing_an_absent_entry_is_harmless(tmp_path: Path) -> None:
    Spool(tmp_path).remove("nothing")


def test_a_rejected_report_is_kept_aside_with_the_answer_and_leaves_the_queue(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path / "spool")
    refused = entry(b"x 1\n", 5.0)
    spool.put(refused)

    kept = spool.reject(refused, "PUT http://gw:9091/...: HTTP 400: inconsistent")

    assert spool.groups() == []
    [found] = spool.rejected()
    assert found.entry == refused
    assert found.reason.endswith("HTTP 400: inconsistent")
    assert found.path == kept
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    spool.drop_rejected(found)
    assert spool.rejected() == []


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o777])
def test_a_spool_others_may_write_is_refused_by_name(tmp_path: Path, mode: int) -> None:
    directory = tmp_path / "spool"
    directory.mkdir()
    directory.chmod(mode)
    with pytest.raises(UntrustedSpool, match=f"spool directory {directory} is writable"):
        Spool(directory).check()


def test_a_symlinked_spool_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir(mode=0o700)
    (tmp_path / "spool").symlink_to(tmp_path / "real")
    with pytest.raises(UntrustedSpool, match="symbolic link"):
        Spool(tmp_path / "spool").check()


def test_a_fifo_in_place_of_an_entry_is_refused_without_waiting(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    os.mkfifo(tmp_path / "g.json")
    with pytest.raises(DeliveryError, match="not a regular file"):
        spool.get("g")
