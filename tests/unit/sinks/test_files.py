"""files: atomic writes and locks that never act on a file someone else put in their way."""

from __future__ import annotations

import fcntl
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pushrestic.errors import DeliveryError
from pushrestic.sinks.files import atomic_write, locked
from tests.fakes import FakeTime

SECRET = b"root:secret\n"


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file outside the directory written to, which no write or lock may change."""
    path = tmp_path / "elsewhere" / "shadow"
    path.parent.mkdir()
    path.write_bytes(SECRET)
    path.chmod(0o640)
    return path


def untouched(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == 0o640 and path.read_bytes() == SECRET


@contextmanager
def held(path: Path) -> Iterator[None]:
    """The lock on ``path`` held by another open file, as another process would hold it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# -- atomic_write ---------------------------------------------------------------


def test_an_atomic_write_gives_the_file_its_mode_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "restic.prom"
    old = os.umask(0o077)
    try:
        atomic_write(path, b"x 1\n", mode=0o644)
    finally:
        os.umask(old)
    assert path.read_bytes() == b"x 1\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["restic.prom"]


def test_a_symlink_swapped_in_for_the_temporary_file_is_neither_chmodded_nor_installed(
    tmp_path: Path, victim: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_mkstemp = tempfile.mkstemp

    def mkstemp_then_race(**kwargs: str | Path) -> tuple[int, str]:
        fd, name = real_mkstemp(**kwargs)  # type: ignore[call-overload]
        os.unlink(name)  # what someone who can write the directory does meanwhile
        os.symlink(victim, name)
        return fd, name

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp_then_race)
    directory = tmp_path / "textfiles"
    directory.mkdir()
    path = directory / "restic.prom"

    with pytest.raises(DeliveryError, match=r"restic\.prom"):
        atomic_write(path, b"x 1\n", mode=0o644)

    assert untouched(victim)
    assert not path.is_symlink()
    assert list(directory.iterdir()) == []


# -- locked ---------------------------------------------------------------------


@pytest.mark.parametrize("target_exists", [True, False], ids=["existing", "dangling"])
def test_a_symlink_planted_at_the_lock_name_is_refused_and_its_target_left_alone(
    tmp_path: Path, victim: Path, target_exists: bool
) -> None:
    target = victim if target_exists else tmp_path / "elsewhere" / "created-by-root"
    lock = tmp_path / ".restic.prom.lock"
    lock.symlink_to(target)
    entered = []

    with pytest.raises(DeliveryError, match=r"\.restic\.prom\.lock"), locked(lock):
        entered.append(True)

    assert entered == []
    assert untouched(victim)
    assert target_exists or not target.exists()


def test_a_fifo_planted_at_the_lock_name_is_refused(tmp_path: Path) -> None:
    lock = tmp_path / ".restic.prom.lock"
    os.mkfifo(lock)
    with pytest.raises(DeliveryError, match="not a regular file"), locked(lock):
        pass


def test_a_lock_file_is_created_private(tmp_path: Path) -> None:
    lock = tmp_path / "group.lock"
    with locked(lock):
        assert stat.S_IMODE(lock.stat().st_mode) == 0o600


def test_a_lock_held_elsewhere_ends_in_a_delivery_error_when_the_timeout_runs_out(
    tmp_path: Path,
) -> None:
    lock = tmp_path / "group.lock"
    time = FakeTime()
    entered = []
    with (
        held(lock),
        pytest.raises(DeliveryError) as raised,
        locked(lock, timeout=5.0, sleep=time.sleep, clock=time.clock),
    ):
        entered.append(True)
    assert str(raised.value) == f"{lock}: still locked by another pushrestic after 5 s"
    assert entered == []
    assert sum(time.sleeps) == pytest.approx(5.0)
    assert all(0 < s <= 1.0 for s in time.sleeps)


def test_a_lock_released_while_waiting_is_taken(tmp_path: Path) -> None:
    lock = tmp_path / "group.lock"
    time = FakeTime()
    holder = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)

    def sleep_then_release(seconds: float) -> None:
        time.sleep(seconds)
        if len(time.sleeps) == 3:
            os.close(holder)

    with locked(lock, timeout=60.0, sleep=sleep_then_release, clock=time.clock):
        assert len(time.sleeps) == 3
        other = os.open(lock, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(other)


def test_a_zero_timeout_tries_once_and_never_sleeps(tmp_path: Path) -> None:
    lock = tmp_path / "group.lock"
    time = FakeTime()
    with (
        held(lock),
        pytest.raises(DeliveryError, match="still locked"),
        locked(lock, timeout=0.0, sleep=time.sleep, clock=time.clock),
    ):
        pass
    assert time.sleeps == []


def test_a_free_lock_is_taken_at_once_with_or_without_a_timeout(tmp_path: Path) -> None:
    lock = tmp_path / "group.lock"
    time = FakeTime()
    with locked(lock, timeout=1.0, sleep=time.sleep, clock=time.clock):
        pass
    with locked(lock):
        pass
    assert time.sleeps == []
