"""The spool never loses a report nor blocks a delivery: refusals, other gateways, broken
and untrusted spools, held locks. Real Pushgateway; a real tmpfs for the full disk."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pushrestic.sinks.pushgateway.spool import group_id
from tests.cli import Ran
from tests.conftest import IN_CI
from tests.integration.servers import (
    AUTORESTIC_GROUPS,
    AUTORESTIC_LOG,
    QUICK,
    SUCCESS_LOG,
    Pushgateway,
    free_port,
    pushrestic,
    sample_log,
    spooled,
)

pytestmark = pytest.mark.integration

T1 = 1_760_000_000.0
T2 = T1 + 3600
SUCCESS = "restic_backup_success"
DEFAULT = {"job": "restic", "instance": "host", "location": "default", "backend": "default"}


def push(url: str, log: Path, *args: str, spool: Path) -> Ran:
    return pushrestic("push", "--gateway", url, "--instance", "host", *args, str(log), spool=spool)


def rejected(spool: Path) -> list[dict[str, object]]:
    directory = spool / "rejected"
    if not directory.is_dir():
        return []
    return [json.loads(path.read_text()) for path in sorted(directory.glob("*.json"))]


def plant_counter(gateway: Pushgateway) -> None:
    """Another job pushes ``restic_backup_success`` as a counter: the gateway then
    refuses any group that has it as a gauge (400, inconsistent types)."""
    import requests

    body = b"# TYPE restic_backup_success counter\nrestic_backup_success 1\n"
    answer = requests.put(f"{gateway.url}/metrics/job/intruder", data=body, timeout=5)
    assert answer.status_code in (200, 202), answer.text


# -- refused for good ------------------------------------------------------------


def test_a_report_the_gateway_refuses_is_kept_aside_and_never_blocks_later_runs(
    gateway: Pushgateway, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    plant_counter(gateway)

    refused = push(gateway.url, sample_log(SUCCESS_LOG, tmp_path, T1), spool=spool)

    assert refused.code == 75, refused
    assert len(refused.error_lines()) == 1, refused
    assert "HTTP 400" in refused.stderr
    assert spooled(spool) == []  # not retried by later runs
    [kept] = rejected(spool)
    assert "HTTP 400" in str(kept["rejected"])
    assert "restic_backup_success" in str(kept["body"])

    requests_delete(f"{gateway.url}/metrics/job/intruder")
    later = push(gateway.url, sample_log(SUCCESS_LOG, tmp_path, T2), spool=spool)

    assert later.code == 0, later
    assert later.error_lines() == []
    [warning] = [line for line in later.stderr.splitlines() if "warning" in line]
    assert "1 older report not delivered (1 refused by the gateway)" in warning
    assert gateway.pushed().value(SUCCESS, **DEFAULT) == 1

    flushed = pushrestic("flush", "--gateway", gateway.url, spool=spool)
    assert flushed.code == 0, flushed
    assert "refused default/default" in flushed.stdout
    assert "HTTP 400" in flushed.stdout
    listing = pushrestic("spool", spool=spool)
    assert listing.code == 0, listing
    assert "refused  default/default" in listing.stdout
    assert "HTTP 400" in listing.stdout


def requests_delete(url: str) -> None:
    import requests

    assert requests.delete(url, timeout=5).status_code in (200, 202)


def test_a_wrong_gateway_path_is_kept_aside_and_delivered_once_the_url_is_fixed(
    gateway: Pushgateway, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    wrong = f"{gateway.url}/wrong/path"

    refused = push(wrong, sample_log(SUCCESS_LOG, tmp_path, T1), spool=spool)

    assert refused.code == 75, refused
    assert "HTTP 404" in refused.stderr
    assert len(rejected(spool)) == 1
    assert gateway.group_labels() == []

    retried = pushrestic(
        "flush", "--gateway", gateway.url, "--retry-rejected", "--adopt", spool=spool
    )

    assert retried.code == 0, retried
    assert "retrying default/default" in retried.stdout
    assert "delivered default/default" in retried.stdout
    assert rejected(spool) == []
    assert spooled(spool) == []
    assert gateway.pushed().value(SUCCESS, **DEFAULT) == 1


def test_drop_rejected_deletes_the_refused_reports_only_when_asked(
    gateway: Pushgateway, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    push(f"{gateway.url}/wrong", sample_log(SUCCESS_LOG, tmp_path, T1), spool=spool)
    assert len(rejected(spool)) == 1

    kept = pushrestic("flush", "--gateway", gateway.url, spool=spool)
    assert kept.code == 0, kept
    assert len(rejected(spool)) == 1

    dropped = pushrestic("flush", "--gateway", gateway.url, "--drop-rejected", spool=spool)
    assert dropped.code == 0, dropped
    assert "dropped default/default" in dropped.stdout
    assert rejected(spool) == []


# -- spooled for another gateway URL or job ----------------------------------------


def test_flush_names_reports_spooled_for_another_url_and_adopt_delivers_them_here(
    gateway: Pushgateway, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    old_url = f"http://localhost:{free_port()}"  # nothing listens there
    down = push(old_url, sample_log(SUCCESS_LOG, tmp_path, T1), *QUICK, spool=spool)
    assert down.code == 75, down
    assert len(spooled(spool)) == 1

    told = pushrestic("flush", "--gateway", gateway.url, spool=spool)

    assert told.code == 0, told
    assert f"waiting for {old_url} (job restic): default/default" in told.stdout
    assert "--adopt" in told.stdout
    assert "--drop-others" in told.stdout
    assert len(spooled(spool)) == 1
    assert gateway.group_labels() == []

    adopted = pushrestic("flush", "--gateway", gateway.url, "--adopt", spool=spool)

    assert adopted.code == 0, adopted
    assert "delivered default/default" in adopted.stdout
    assert spooled(spool) == []
    assert gateway.pushed().value(SUCCESS, **DEFAULT) == 1


def test_drop_others_deletes_only_the_reports_for_another_gateway(
    gateway: Pushgateway, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    push(
        f"http://localhost:{free_port()}",
        sample_log(SUCCESS_LOG, tmp_path, T1),
        *QUICK,
        spool=spool,
    )
    gateway.stop()
    push(
        gateway.url,
        sample_log(SUCCESS_LOG, tmp_path, T2),
        "--location",
        "mine",
        *QUICK,
        spool=spool,
    )
    assert len(spooled(spool)) == 2
    gateway.start()

    done = pushrestic("flush", "--gateway", gateway.url, "--drop-others", spool=spool)

    assert done.code == 0, done
    assert "dropped default/default (spooled for http://localhost:" in done.stdout
    assert "delivered mine/default" in done.stdout
    assert spooled(spool) == []
    assert {g["location"] for g in gateway.group_labels()} == {"mine"}


# -- a spool that cannot be used -----------------------------------------------------


def test_every_group_is_pushed_when_the_spool_cannot_even_be_created(
    gateway: Pushgateway, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    spool = blocker / "spool"

    done = push(gateway.url, sample_log(AUTORESTIC_LOG, tmp_path, T1), spool=spool)

    assert done.code == 0, done
    assert str(blocker) in done.stderr  # said once, as a warning
    arrived = {(g["location"], g["backend"]) for g in gateway.group_labels()}
    assert arrived == set(AUTORESTIC_GROUPS)


@contextlib.contextmanager
def tmpfs(path: Path, size: str, *options: str) -> Iterator[Path]:
    """A real tmpfs of ``size`` mounted at ``path`` (needs root, as in CI)."""
    path.mkdir(parents=True, exist_ok=True)
    mount = ["mount", "-t", "tmpfs", "-o", ",".join([f"size={size}", "mode=0700", *options])]
    done = subprocess.run([*mount, "tmpfs", str(path)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        message = f"cannot mount a tmpfs here: {done.stderr.strip()}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(directory: Path) -> None:
    """Fill the file system of ``directory`` to the last byte."""
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with contextlib.suppress(OSError):
            while os.write(fd, b"\0" * 4096):
                pass
        with contextlib.suppress(OSError):
            while os.write(fd, b"\0"):
                pass
    finally:
        os.close(fd)
    with contextlib.suppress(OSError):
        for number in range(10_000):
            (directory / f"inode-{number}").touch()


def test_a_full_spool_disk_never_stops_a_push_and_says_what_could_not_be_kept(
    gateway: Pushgateway, tmp_path: Path
) -> None:
    with tmpfs(tmp_path / "disk", "256k") as disk:
        spool = disk / "spool"
        spool.mkdir(mode=0o700)
        fill(disk)

        up = push(gateway.url, sample_log(AUTORESTIC_LOG, tmp_path, T1), spool=spool)

        assert up.code == 0, up
        arrived = {(g["location"], g["backend"]) for g in gateway.group_labels()}
        assert arrived == set(AUTORESTIC_GROUPS)

        gateway.stop()
        down = push(gateway.url, sample_log(SUCCESS_LOG, tmp_path, T2), *QUICK, spool=spool)

    assert down.code == 75, down
    [error] = [line for line in down.error_lines() if "not kept" in line]
    assert "default/default: not delivered and not kept" in error
    assert "No space left on device" in error


def test_a_read_only_spool_never_stops_a_push(gateway: Pushgateway, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "1m") as disk:
        spool = disk / "spool"
        spool.mkdir(mode=0o700)
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)

        done = push(gateway.url, sample_log(AUTORESTIC_LOG, tmp_path, T1), spool=spool)

    assert done.code == 0, done
    assert "Read-only file system" in done.stderr
    arrived = {(g["location"], g["backend"]) for g in gateway.group_labels()}
    assert arrived == set(AUTORESTIC_GROUPS)


def test_one_unreadable_spool_entry_never_stops_the_others(
    gateway: Pushgateway, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    gateway.stop()
    down = push(gateway.url, sample_log(SUCCESS_LOG, tmp_path, T1), *QUICK, spool=spool)
    assert down.code == 75, down
    (spool / ("0" * 32 + ".json")).mkdir()  # a directory where an entry should be
    os.mkfifo(spool / ("1" * 32 + ".json"))  # a FIFO: reading it must not hang
    os.utime(spool / ("0" * 32 + ".json"), (1, 1))  # the oldest: replayed first
    gateway.start()

    done = pushrestic("flush", "--gateway", gateway.url, spool=spool, timeout=60)

    assert done.code == 0, done
    assert "delivered default/default" in done.stdout
    assert "not a regular file" in done.stderr
    assert gateway.pushed().value(SUCCESS, **DEFAULT) == 1


def test_a_bearer_token_outside_latin1_never_loses_the_new_report(
    gateway: Pushgateway, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    gateway.stop()
    push(
        gateway.url, sample_log(SUCCESS_LOG, tmp_path, T1), "--location", "old", *QUICK, spool=spool
    )
    gateway.start()
    token = tmp_path / "token"
    token.write_text("жетон-секрет\n")
    token.chmod(0o600)

    done = push(
        gateway.url,
        sample_log(SUCCESS_LOG, tmp_path, T2),
        "--bearer-token-file",
        str(token),
        spool=spool,
    )

    assert done.code == 0, done  # the token is sent as UTF-8, as the password is
    assert "секрет" not in done.stderr
    assert {g["location"] for g in gateway.group_labels()} == {"old", "default"}
    assert spooled(spool) == []


# -- an untrusted spool ------------------------------------------------------------


def plant(spool: Path, url: str) -> None:
    """A forged report in someone else's spool: it must never be replayed."""
    key = {"instance": "host", "location": "planted", "backend": "default"}
    body = "# TYPE restic_backup_success gauge\nrestic_backup_success 1\n"
    document = {
        "version": 1,
        "gateway": url,
        "job": "restic",
        "key": key,
        "body": body,
        "last_success": 4e9,
        "spooled_at": 1.0,
    }
    (spool / f"{group_id(url, 'restic', key)}.json").write_text(json.dumps(document))


@pytest.mark.parametrize("how", ["writable by others", "owned by another user", "a symlink"])
def test_an_untrusted_spool_is_refused_by_name_and_the_report_still_pushed(
    gateway: Pushgateway, tmp_path: Path, how: str
) -> None:
    spool = tmp_path / "spool"
    real = tmp_path / "elsewhere"
    real.mkdir(mode=0o700)
    plant(real, gateway.url)
    if how == "a symlink":
        spool.symlink_to(real)
    else:
        real.rename(spool)
        if how == "writable by others":
            spool.chmod(0o777)
        else:
            os.chown(spool, 65534, 65534)

    done = push(gateway.url, sample_log(SUCCESS_LOG, tmp_path, T1), spool=spool)

    assert done.code == 2, done
    assert f"spool directory {spool}" in done.stderr
    assert {g["location"] for g in gateway.group_labels()} == {"default"}  # never "planted"

    refused = pushrestic("flush", "--gateway", gateway.url, spool=spool)
    assert refused.code == 2, refused
    assert f"spool directory {spool}" in refused.stderr


def test_a_new_spool_directory_is_private(gateway: Pushgateway, tmp_path: Path) -> None:
    spool = tmp_path / "new" / "spool"
    done = push(gateway.url, sample_log(SUCCESS_LOG, tmp_path, T1), spool=spool)
    assert done.code == 0, done
    assert stat.S_IMODE(spool.stat().st_mode) == 0o700


# -- a lock held by a hung process -------------------------------------------------


def test_a_held_group_lock_is_waited_for_within_the_deadline_and_the_report_pushed(
    gateway: Pushgateway, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir(mode=0o700)
    key = {"instance": "host", "location": "default", "backend": "default"}
    lock = spool / f"{group_id(gateway.url, 'restic', key)}.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        started = time.monotonic()
        done = push(
            gateway.url,
            sample_log(SUCCESS_LOG, tmp_path, T1),
            "--deadline",
            "6",
            spool=spool,
        )  # the lock is never released: without a bound this would never end
        took = time.monotonic() - started
    finally:
        os.close(fd)

    assert done.code == 0, done
    assert took < 45, took  # the deadline (6 s) plus a generous margin for a loaded machine
    assert "still locked" in done.stderr
    assert gateway.pushed().value(SUCCESS, **DEFAULT) == 1
