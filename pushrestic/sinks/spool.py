"""The spool: reports that could not be pushed, kept until a later run delivers them.

One JSON file per group (gateway, job, grouping key), so the spool holds at
most one entry per group and the latest state wins; each file also remembers
the group's last success time, which never goes backwards. Files are written
atomically (temporary file, fsync, rename) with mode 0600, in a directory of
mode 0700. Processes that work on the same group take that group's lock
(``flock`` on a per-group lock file), so two pushrestic processes sharing a
spool never corrupt it or deliver an older state over a newer one.

The same directory keeps, per group, the last success time reported, so that
a failed run carries it forward even when the Pushgateway cannot be asked.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pushrestic.errors import DeliveryError
from pushrestic.files import atomic_write, locked

log = logging.getLogger(__name__)

_VERSION = 1


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    """One group's latest undelivered report."""

    gateway: str
    job: str
    key: dict[str, str]
    body: bytes
    last_success: float | None
    spooled_at: float

    @property
    def group_id(self) -> str:
        return group_id(self.gateway, self.job, self.key)


def group_id(gateway: str, job: str, key: Mapping[str, str]) -> str:
    """A stable file name for a group: a hash of where it goes and its grouping key."""
    canonical = json.dumps([gateway.rstrip("/"), job, sorted(key.items())], ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


class Spool:
    """A spool directory. Methods that change a group must run under :meth:`locked`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _ensure(self) -> None:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            (self.directory / "last-success").mkdir(mode=0o700, exist_ok=True)
        except OSError as error:
            raise DeliveryError(f"spool {self.directory}: {error.strerror or error}") from None

    @contextlib.contextmanager
    def locked(self, group: str) -> Iterator[None]:
        """Hold the lock of one group (blocking) while the body runs."""
        self._ensure()
        with locked(self.directory / f"{group}.lock"):
            yield

    def get(self, group: str) -> SpoolEntry | None:
        """The spooled entry of a group, or None. A corrupt file is set aside, not trusted."""
        path = self.directory / f"{group}.json"
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise DeliveryError(f"spool {path}: {error.strerror or error}") from None
        try:
            return _decode(raw)
        except (ValueError, KeyError, TypeError):
            broken = path.with_suffix(".broken")
            log.warning("spool entry %s is unreadable; moved to %s", path, broken)
            with contextlib.suppress(OSError):
                path.rename(broken)
            return None

    def put(self, entry: SpoolEntry) -> None:
        """Keep ``entry`` as its group's latest state (the last success never goes back)."""
        self._ensure()
        previous = self.get(entry.group_id)
        if previous is not None:
            entry = SpoolEntry(
                entry.gateway,
                entry.job,
                entry.key,
                entry.body,
                _latest(entry.last_success, previous.last_success),
                entry.spooled_at,
            )
        atomic_write(self.directory / f"{entry.group_id}.json", _encode(entry))

    def remove(self, group: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.directory / f"{group}.json").unlink()

    def groups(self) -> list[str]:
        """The groups with a spooled entry, oldest file first."""
        if not self.directory.is_dir():
            return []
        dated = []
        for path in self.directory.glob("*.json"):
            try:
                dated.append((path.stat().st_mtime, path.name, path.stem))
            except FileNotFoundError:  # delivered and removed meanwhile by another process
                continue
        return [stem for _, _, stem in sorted(dated)]

    def last_success(self, group: str) -> float | None:
        """The last success time recorded for a group, or None."""
        path = self.directory / "last-success" / group
        try:
            return float(path.read_text().strip())
        except (OSError, ValueError):
            return None

    def record_success(self, group: str, when: float | None) -> None:
        """Remember a group's last success time, never moving it backwards."""
        if when is None:
            return
        self._ensure()
        latest = _latest(when, self.last_success(group))
        atomic_write(self.directory / "last-success" / group, f"{latest!r}\n".encode())


def _latest(a: float | None, b: float | None) -> float | None:
    values = [v for v in (a, b) if v is not None]
    return max(values) if values else None


def _encode(entry: SpoolEntry) -> bytes:
    document: dict[str, Any] = {
        "version": _VERSION,
        "gateway": entry.gateway,
        "job": entry.job,
        "key": entry.key,
        "body": entry.body.decode("utf-8"),
        "last_success": entry.last_success,
        "spooled_at": entry.spooled_at,
    }
    return json.dumps(document, ensure_ascii=False, indent=1).encode()


def _decode(raw: bytes) -> SpoolEntry:
    document = json.loads(raw)
    if document.get("version") != _VERSION:
        raise ValueError("unknown spool format")
    key = document["key"]
    if not isinstance(key, dict) or not all(isinstance(v, str) for v in key.values()):
        raise TypeError("key")
    last = document.get("last_success")
    return SpoolEntry(
        gateway=str(document["gateway"]),
        job=str(document["job"]),
        key={str(k): v for k, v in key.items()},
        body=str(document["body"]).encode("utf-8"),
        last_success=float(last) if last is not None else None,
        spooled_at=float(document["spooled_at"]),
    )
