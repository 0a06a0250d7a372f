"""Many pushrestic processes at once: against one real Pushgateway, one spool, one textfile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli import Ran
from tests.integration.servers import (
    AUTORESTIC_GROUPS,
    AUTORESTIC_LOG,
    FAILURE_LOG,
    QUICK,
    SUCCESS_LOG,
    Exposition,
    Pushgateway,
    pushrestic,
    sample_log,
    spooled,
    start_pushrestic,
)

pytestmark = pytest.mark.integration

T1 = 1_760_000_000.25
PROCESSES = 20


def run_at_once(commands: list[list[str]], spool: Path) -> list[Ran]:
    """Start every command before waiting for any; each ends within its own bound."""
    processes = [start_pushrestic(*command, spool=spool) for command in commands]
    return [process.finish() for process in processes]


def assert_spool_sound(spool: Path, groups: int) -> None:
    """Every entry parses, one per group, and nothing is broken or half written."""
    entries = spooled(spool)
    keys = []
    for path in entries:
        document = json.loads(path.read_bytes())
        keys.append(tuple(sorted(document["key"].items())))
        assert list(Exposition.parse(document["body"]).samples), path
    assert len(keys) == len(set(keys)) == groups, keys
    unexpected = [
        p.name for p in spool.iterdir() if p.suffix not in (".json", ".lock") and p.is_file()
    ]
    assert unexpected == []


def test_twenty_processes_at_once_all_arrive_at_one_gateway(
    gateway: Pushgateway, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    success = sample_log(SUCCESS_LOG, tmp_path, T1)
    failure = sample_log(FAILURE_LOG, tmp_path, T1)
    commands = [
        [
            "push",
            "--gateway",
            gateway.url,
            "--instance",
            "host",
            "--location",
            f"loc-{i:02d}",
            *(["--exit-code", "1", str(failure)] if i % 2 else [str(success)]),
        ]
        for i in range(PROCESSES)
    ]

    for done in run_at_once(commands, spool):
        assert done.code == 0, done

    pushed = gateway.pushed()
    assert pushed.groups() == {(f"loc-{i:02d}", "default") for i in range(PROCESSES)}
    for i in range(PROCESSES):
        assert pushed.value("restic_backup_success", location=f"loc-{i:02d}") == (i + 1) % 2
    assert spooled(spool) == []


def test_two_processes_sharing_a_spool_while_the_gateway_is_down_never_corrupt_it(
    tmp_path: Path,
) -> None:
    spool = tmp_path / "spool"
    gateway = Pushgateway(tmp_path / "pushgateway")  # not started yet: its port is closed
    first = sample_log(AUTORESTIC_LOG, tmp_path, T1)
    second = sample_log(AUTORESTIC_LOG, tmp_path, T1 + 60)
    push = ["push", "--gateway", gateway.url, "--instance", "host", *QUICK]

    for done in run_at_once([[*push, str(first)], [*push, str(second)]], spool):
        assert done.code == 75, done
    assert_spool_sound(spool, groups=len(AUTORESTIC_GROUPS))

    flushes = [["flush", "--gateway", gateway.url, *QUICK]] * 2
    for done in run_at_once(flushes, spool):
        assert done.code == 75, done
    assert_spool_sound(spool, groups=len(AUTORESTIC_GROUPS))

    with gateway:
        flushed = pushrestic("flush", "--gateway", gateway.url, spool=spool)

        assert flushed.code == 0, flushed
        assert spooled(spool) == []
        pushed = gateway.pushed()
        assert pushed.groups() == AUTORESTIC_GROUPS
        assert len(pushed.find("restic_backup_success")) == len(AUTORESTIC_GROUPS)


def test_two_flushes_at_once_deliver_each_report_and_leave_the_spool_empty(
    tmp_path: Path,
) -> None:
    spool = tmp_path / "spool"
    gateway = Pushgateway(tmp_path / "pushgateway")
    pushes = [
        [
            "push",
            "--gateway",
            gateway.url,
            "--location",
            f"loc-{i}",
            *QUICK,
            str(sample_log(SUCCESS_LOG, tmp_path, T1 + i)),
        ]
        for i in range(4)
    ]
    for done in run_at_once(pushes, spool):
        assert done.code == 75, done
    assert_spool_sound(spool, groups=4)

    with gateway:
        flushes = [["flush", "--gateway", gateway.url]] * 2
        results = run_at_once(flushes, spool)

        for done in results:
            assert done.code == 0, done
        delivered = [line for done in results for line in done.stdout.splitlines()]
        assert sorted(delivered) == [f"delivered loc-{i}/default" for i in range(4)]
        assert spooled(spool) == []
        assert gateway.pushed().groups() == {(f"loc-{i}", "default") for i in range(4)}


def test_twenty_processes_writing_one_textfile_at_once_lose_no_location(tmp_path: Path) -> None:
    directory = tmp_path / "textfile"
    directory.mkdir()
    textfile = directory / "restic.prom"
    log = sample_log(SUCCESS_LOG, tmp_path, T1)
    commands = [
        ["push", "--textfile", str(textfile), "--location", f"loc-{i:02d}", str(log)]
        for i in range(PROCESSES)
    ]

    for done in run_at_once(commands, tmp_path / "spool"):
        assert done.code == 0, done

    written = Exposition.parse(textfile.read_text())
    assert written.groups() == {(f"loc-{i:02d}", "default") for i in range(PROCESSES)}
    assert sorted(p.name for p in directory.iterdir()) == [".restic.prom.lock", "restic.prom"]
