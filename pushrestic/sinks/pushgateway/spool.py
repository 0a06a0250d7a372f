"""The spool: reports that could not be pushed, kept until a later run delivers them.

One JSON file per group (written atomically, mode 0600, in a 0700 directory that must be
the user's and writable by nobody else), a per-group ``flock``, refused reports in
``rejected/`` and each group's last success time in ``last-success/``; reports for the
Pushgateway and for a remote-write endpoint alike. Why: docs/design/sinks-pushgateway-spool.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import stat
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pushrestic.errors import DeliveryError, UsageError
from pushrestic.model import latest_success
from pushrestic.sinks.files import atomic_write, locked, read_regular
from pushrestic.sinks.pushgateway.ledger import LEDGER, Ledger

log = logging.getLogger(__name__)

_VERSION = 1
_REJECTED = "rejected"
_MAX_ENTRY = 64 * 1024 * 1024  # a spooled report is a few kB; never read an endless file
PUSHGATEWAY = "pushgateway"
REMOTE_WRITE = "remote-write"
SINKS = frozenset({PUSHGATEWAY, REMOTE_WRITE})


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    """One group's latest undelivered report; ``gateway`` is the URL it is for (the
    Pushgateway's, or the remote-write endpoint's when ``sink`` is REMOTE_WRITE)."""

    gateway: str
    job: str
    key: dict[str, str]
    body: bytes
    last_success: float | None
    spooled_at: float
    sink: str = PUSHGATEWAY

    @property
    def group_id(self) -> str:
        return group_id(self.gateway, self.job, self.key, self.sink)

    @property
    def name(self) -> str:
        """``location/backend`` (and ``(operation)``), as messages show a group."""
        operation = self.key.get("operation")
        name = f"{self.key.get('location', '')}/{self.key.get('backend', '')}"
        return f"{name} ({operation})" if operation else name


@dataclass(frozen=True, slots=True)
class Rejected:
    """A report the gateway refused for good, kept aside with the gateway's answer."""

    entry: SpoolEntry
    reason: str
    rejected_at: float
    path: Path


class UntrustedSpool(UsageError):
    """The spool directory belongs to someone else or others may write it."""


def group_id(gateway: str, job: str, key: Mapping[str, str], sink: str = PUSHGATEWAY) -> str:
    """A stable file name for a group: a hash of where it goes (and how) and its grouping key."""
    where: list[object] = [gateway.rstrip("/"), job, sorted(key.items())]
    if sink != PUSHGATEWAY:  # the Pushgateway's ids are those of earlier versions
        where.append(sink)
    canonical = json.dumps(where, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


class Spool:
    """A spool directory. Methods that change a group should run under :meth:`locked`.

    Every method that touches the disk raises :class:`DeliveryError` (with the
    path and the reason) when it cannot, so that callers can go on without the
    spool: the push happens whatever the spool's state.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._checked = False
        # Each group's last success time, kept beside the reports: checked with the spool.
        self.ledger = Ledger(directory / LEDGER, check=self.check)

    # -- the directory ----------------------------------------------------

    def check(self) -> None:
        """Create the directory (mode 0700) if missing; refuse one that is not safe.

        Raises UntrustedSpool when the directory (or one of its subdirectories)
        is a symlink, is not a directory, is not owned by this user, or is
        writable by group or others; DeliveryError when it cannot be created.
        """
        if self._checked:
            return
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as error:
            raise DeliveryError(f"spool {self.directory}: {error.strerror or error}") from None
        _check_private(self.directory)
        for name in (LEDGER, _REJECTED):
            sub = self.directory / name
            with contextlib.suppress(FileExistsError, OSError):
                sub.mkdir(mode=0o700)
            if sub.exists() or sub.is_symlink():
                _check_private(sub)
        self._checked = True

    @contextlib.contextmanager
    def locked(self, group: str, timeout: float | None = None) -> Iterator[None]:
        """Hold the lock of one group while the body runs, waiting at most ``timeout`` s.

        Raises DeliveryError when the lock cannot be taken (a full or read-only
        disk, or another process holding it past the timeout).
        """
        self.check()
        with locked(self.directory / f"{group}.lock", timeout=timeout):
            yield

    # -- pending reports --------------------------------------------------

    def get(self, group: str) -> SpoolEntry | None:
        """The spooled entry of a group, or None. A corrupt file is set aside, not trusted."""
        path = self.directory / f"{group}.json"
        raw = read_regular(path, _MAX_ENTRY)
        if raw is None:
            return None
        try:
            return _decode(raw)
        except (ValueError, KeyError, TypeError, AttributeError):
            broken = path.with_suffix(f".broken-{time.time_ns()}")
            log.warning("spool entry %s is unreadable; moved to %s", path, broken)
            with contextlib.suppress(OSError):
                path.rename(broken)
            return None

    def put(self, entry: SpoolEntry) -> None:
        """Keep ``entry`` as its group's latest state (the last success never goes back)."""
        self.check()
        previous = None
        with contextlib.suppress(DeliveryError):
            previous = self.get(entry.group_id)
        if previous is not None:
            entry = replace(
                entry,
                last_success=latest_success(
                    entry.last_success, previous.last_success, now=time.time()
                ),
            )
        atomic_write(self.directory / f"{entry.group_id}.json", _encode(entry))

    def remove(self, group: str) -> None:
        """Forget a group's pending entry (delivered, or dropped by the user)."""
        path = self.directory / f"{group}.json"
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as error:
            raise DeliveryError(f"spool {path}: {error.strerror or error}") from None

    def groups(self) -> list[str]:
        """The groups with a pending entry, oldest file first."""
        if not self.directory.is_dir():
            return []
        dated = []
        try:
            paths = list(self.directory.glob("*.json"))
        except OSError as error:
            raise DeliveryError(f"spool {self.directory}: {error.strerror or error}") from None
        for path in paths:
            try:
                dated.append((path.lstat().st_mtime, path.name, path.stem))
            except OSError:  # delivered and removed meanwhile by another process
                continue
        return [stem for _, _, stem in sorted(dated)]

    # -- reports refused for good -------------------------------------------

    def reject(self, entry: SpoolEntry, reason: str) -> Path:
        """Set ``entry`` aside with the gateway's answer; it is never retried by itself.

        The pending entry of the group, if any, is removed. Returns the file kept.
        """
        self.check()
        now = time.time()
        path = self.directory / _REJECTED / f"{entry.group_id}-{time.time_ns()}.json"
        document = _document(entry)
        document["rejected"] = {"reason": reason, "at": now}
        atomic_write(path, json.dumps(document, ensure_ascii=False, indent=1).encode())
        self.remove(entry.group_id)
        return path

    def rejected(self) -> list[Rejected]:
        """The reports set aside, oldest first; unreadable files are skipped with a warning."""
        directory = self.directory / _REJECTED
        if not directory.is_dir():
            return []
        found = []
        for path in sorted(directory.glob("*.json")):
            try:
                raw = read_regular(path, _MAX_ENTRY)
                if raw is None:
                    continue
                document = json.loads(raw)
                entry = _decode(raw)
                note = document["rejected"]
                found.append(Rejected(entry, str(note["reason"]), float(note["at"]), path))
            except (DeliveryError, ValueError, KeyError, TypeError, AttributeError) as error:
                log.warning("rejected report %s is unreadable: %s", path, error)
        return sorted(found, key=lambda r: r.rejected_at)

    def drop_rejected(self, rejected: Rejected) -> None:
        """Delete a rejected report for good (the user asked for it)."""
        try:
            rejected.path.unlink(missing_ok=True)
        except OSError as error:
            raise DeliveryError(f"spool {rejected.path}: {error.strerror or error}") from None


def _check_private(path: Path) -> None:
    """Refuse a directory that is a symlink, someone else's, or writable by others."""
    try:
        info = path.lstat()
    except OSError as error:
        raise DeliveryError(f"spool {path}: {error.strerror or error}") from None
    problem = None
    if stat.S_ISLNK(info.st_mode):
        problem = "is a symbolic link"
    elif not stat.S_ISDIR(info.st_mode):
        problem = "is not a directory"
    elif info.st_uid != os.geteuid():
        problem = f"belongs to uid {info.st_uid}, not to this user (uid {os.geteuid()})"
    elif info.st_mode & 0o022:
        problem = f"is writable by group or others (mode {stat.S_IMODE(info.st_mode):04o})"
    if problem is not None:
        raise UntrustedSpool(
            f"spool directory {path} {problem}: refusing to use it (anyone who can write "
            f"it can plant reports); fix it (chmod 700, chown) or choose another --spool-dir"
        )


def _document(entry: SpoolEntry) -> dict[str, Any]:
    document = {
        "version": _VERSION,
        "gateway": entry.gateway,
        "job": entry.job,
        "key": entry.key,
        "body": entry.body.decode("utf-8"),
        "last_success": entry.last_success,
        "spooled_at": entry.spooled_at,
    }
    if entry.sink != PUSHGATEWAY:
        document["sink"] = entry.sink
    return document


def _encode(entry: SpoolEntry) -> bytes:
    return json.dumps(_document(entry), ensure_ascii=False, indent=1).encode()


def _decode(raw: bytes) -> SpoolEntry:
    document = json.loads(raw)
    if document.get("version") != _VERSION:
        raise ValueError("unknown spool format")
    key = document["key"]
    if not isinstance(key, dict) or not all(isinstance(v, str) for v in key.values()):
        raise TypeError("key")
    last = document.get("last_success")
    sink = document.get("sink", PUSHGATEWAY)
    if sink not in SINKS:
        raise ValueError(f"unknown sink {sink!r}")
    return SpoolEntry(
        gateway=str(document["gateway"]),
        job=str(document["job"]),
        key={str(k): v for k, v in key.items()},
        body=str(document["body"]).encode("utf-8"),
        last_success=float(last) if last is not None else None,
        spooled_at=float(document["spooled_at"]),
        sink=sink,
    )
