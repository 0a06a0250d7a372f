"""Small file helpers shared by the sinks: atomic writes, advisory locks, safe reads.

pushrestic often runs as root in directories that others may be able to write
(a textfile collector directory, a spool). So a path is opened once, without
following a symbolic link, and everything after that goes through the file
descriptor: the mode is set with ``fchmod``, the file type is checked with
``fstat``; nothing is ever chmodded, locked or read by a name that someone
could have swapped for a link to a file elsewhere.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from pushrestic.errors import DeliveryError

LOCK_POLL_SECONDS = 0.05  # between two tries of a lock that has a timeout


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half.

    The temporary file is a hidden name in the same directory (so the rename is
    atomic, and node_exporter, which reads ``*.prom`` only, never sees it),
    created exclusively (never through a link) and given ``mode`` through its
    descriptor. Before the rename, the name must still be the file written: if
    someone replaced it meanwhile, nothing is installed. Raises DeliveryError.
    """
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise DeliveryError(f"cannot write {path}: {error.strerror or error}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            written = os.fstat(handle.fileno())
        if not os.path.samestat(written, os.lstat(temporary)):
            raise DeliveryError(f"cannot write {path}: {temporary} was replaced while written")
        os.replace(temporary, path)
    except (OSError, DeliveryError) as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)  # the name only: a link planted there, never its target
        if isinstance(error, DeliveryError):
            raise
        raise DeliveryError(f"cannot write {path}: {error.strerror or error}") from None


def open_regular(path: Path, flags: int = os.O_RDONLY, create_mode: int = 0o600) -> int:
    """A descriptor of the regular file at ``path``, opened without following a link.

    ``O_NONBLOCK`` keeps a FIFO or a device planted at ``path`` from blocking
    the open; anything but a regular file (a link, a FIFO, a directory, a
    device) is refused. Raises FileNotFoundError when there is no file and
    ``O_CREAT`` is not in ``flags``; DeliveryError, naming the path, otherwise.
    """
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, create_mode)
    except FileNotFoundError:
        raise
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise DeliveryError(f"{path}: is a symbolic link; refusing to follow it") from None
        raise DeliveryError(f"cannot open {path}: {error.strerror or error}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise DeliveryError(f"{path}: not a regular file; refusing to use it")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular(path: Path, limit: int | None = None) -> bytes | None:
    """The bytes of the regular file at ``path``, or None when there is none.

    Bytes, not text: no newline translation, so a carriage return inside a
    label value reads back as it was written. With ``limit``, a file larger
    than ``limit`` bytes is refused, also one that grows while it is read
    (an endless file never fills memory). Raises DeliveryError for a path that
    is not a regular file (see :func:`open_regular`), is too large, or cannot
    be read.
    """
    try:
        fd = open_regular(path)
    except FileNotFoundError:
        return None
    try:
        with os.fdopen(fd, "rb") as handle:
            if limit is None:
                return handle.read()
            data = handle.read(limit + 1)  # never more, however large the file or its growth
            if len(data) > limit:
                raise DeliveryError(f"{path}: larger than {limit} bytes; refusing to read it")
            return data
    except OSError as error:
        raise DeliveryError(f"cannot read {path}: {error.strerror or error}") from None


@contextlib.contextmanager
def locked(
    path: Path,
    *,
    timeout: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created 0600 if missing) while the body runs.

    Without ``timeout`` the wait is as long as the holder keeps the lock; with
    one, the lock is tried every few hundredths of a second (``sleep`` and
    ``clock`` are injectable) and DeliveryError is raised when ``timeout``
    seconds have passed. A link or anything but a regular file at ``path`` is
    refused (DeliveryError): a planted link never makes root create, truncate
    or lock a file elsewhere.
    """
    try:
        fd = open_regular(path, os.O_RDWR | os.O_CREAT)
    except FileNotFoundError as error:  # its directory is missing
        raise DeliveryError(f"cannot lock {path}: {error.strerror}") from None
    try:
        _acquire(fd, path, timeout, sleep, clock)
        yield
    finally:
        os.close(fd)


def _acquire(
    fd: int,
    path: Path,
    timeout: float | None,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> None:
    try:
        if timeout is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
            return
        deadline = clock() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            remaining = deadline - clock()
            if remaining <= 0:
                raise DeliveryError(
                    f"{path}: still locked by another pushrestic after {timeout:g} s"
                )
            sleep(min(LOCK_POLL_SECONDS, remaining))
    except OSError as error:
        raise DeliveryError(f"cannot lock {path}: {error.strerror or error}") from None
