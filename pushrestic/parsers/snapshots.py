"""``restic snapshots --json``, every version from 0.9 to 0.19: the repository's own truth.

restic prints one JSON document on one line (``cmd/restic/cmd_snapshots.go``):

* plain (and ``--latest N``): an array of snapshots, ``[{"time":…,"tree":…,
  "paths":[…],"hostname":…,"tags":[…],…,"id":…,"short_id":…}]``; ``time`` is the
  first key in every version. An empty repository gives ``[]`` (``null`` before
  0.11). ``--latest N`` keeps the N latest per host and paths.
* ``--group-by`` (0.9.5+): an array of groups, ``[{"group_key":{"hostname":…,
  "paths":[…]|null,"tags":[…]|null},"snapshots":[…]}]``; a key restic did not
  group by is empty or null.

Each group gives a :class:`~pushrestic.model.SnapshotGroup`: as restic grouped
them, or, for the plain array, by host and paths (sorted), as ``--latest`` and
``forget`` group them. ``time`` is RFC 3339 with nanoseconds and the zone offset
restic's host had; it is read exactly (whole seconds and nanoseconds, as
integers) to find each group's latest, then given as Unix seconds.

The document may be many megabytes on one line: the input layer passes a line
that starts like it whole up to :data:`MAX_DOCUMENT` bytes (other lines are cut
at ``MAX_LINE``), so memory is bounded by the size of this one document (about
twice it: the line's bytes and its text), not by the log. Its items are decoded
one snapshot at a time, so the decoded objects never all exist at once; what is
kept is one counter and one time per group.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from pushrestic.errors import InputError
from pushrestic.model import ResticOutput, SnapshotGroup, SnapshotsResult
from pushrestic.parsers.patterns import ascii_pattern

NumberedLines = Iterable[tuple[int, str]]

#: How a line holding the document starts (as bytes, for the input layer): a
#: snapshot array, a group array, and the empty list (``[]``, ``null`` are short).
LONG_LINE_PREFIXES: tuple[bytes, ...] = (b'[{"time":', b'[{"group_key":')
#: The longest document read whole (256 MiB, several hundred thousand snapshots);
#: a longer line is cut like any other and then does not parse.
MAX_DOCUMENT = 256 << 20

_TIME = ascii_pattern(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})"
)
_SPACE = ascii_pattern(r"[ \t\n\r]*")
_GROUP_START = '{"group_key":'
_EMPTY = frozenset({"[]", "null"})

GroupKey = tuple[str, tuple[str, ...], tuple[str, ...]]


def detect(head: list[tuple[int, str]]) -> bool:
    """Whether the input (its first lines) is ``restic snapshots --json`` output: its
    first non-empty line is a snapshot or group array, or alone ``[]`` or ``null``."""
    first = ""
    others = 0
    for _, line in head:
        stripped = line.strip()
        if not stripped:
            continue
        if not first:
            first = stripped
            if first.startswith(tuple(p.decode() for p in LONG_LINE_PREFIXES)):
                return True
            if first not in _EMPTY:
                return False
        else:
            others += 1
    return bool(first) and others == 0


def parse_snapshots(lines: NumberedLines, *, source: str = "") -> ResticOutput:
    """``restic snapshots --json`` output: numbered lines in, a ResticOutput with a
    SnapshotsResult out. Several documents (one ``restic snapshots`` per host, say)
    are merged: a group listed twice is one group.

    Lines that are not a JSON array are ignored, but the first ``Fatal:`` one is kept.
    Raises InputError, naming the line (and the snapshot), for a document or a
    snapshot that is not what restic prints, and when there is no document.
    """
    groups: dict[GroupKey, list[int]] = {}  # key -> [count, latest time in ns or -1]
    total = 0
    documents = 0
    fatal: str | None = None
    count = 0
    for number, raw in lines:
        count = max(count, number)
        line = raw.strip()
        if line in _EMPTY or line.startswith("[{"):
            total += _document(line, groups, number, source)
            documents += 1
        elif fatal is None and (
            line.startswith("Fatal: ") or line.startswith("unable to create lock in backend: ")
        ):
            fatal = line
    if not documents:
        raise InputError("no restic snapshots --json document", source=source)
    result = SnapshotsResult(
        groups=tuple(
            SnapshotGroup(
                hostname=key[0],
                paths=key[1],
                tags=key[2],
                snapshots=counted,
                latest_at=None if latest < 0 else _seconds(latest),
            )
            for key, (counted, latest) in sorted(groups.items())
        ),
        total=total,
    )
    return ResticOutput(snapshots=result, fatal=fatal, lines=count, recognized=True)


def snapshot_time_ns(text: str) -> int:
    """restic's snapshot time (RFC 3339, up to nanoseconds, ``Z`` or an offset) ->
    Unix time in whole nanoseconds, exactly. Raises ValueError on anything else."""
    match = _TIME.fullmatch(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 time: {text[:80]!r}")
    base, fraction, zone = match.groups()
    try:
        moment = datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone))
        whole = int(moment.timestamp())  # exact: no fraction, far below 2**53
    except (ValueError, OverflowError) as error:
        raise ValueError(f"not an RFC 3339 time: {text[:80]!r} ({error})") from None
    return whole * 1_000_000_000 + int((fraction or "").ljust(9, "0"))


def _seconds(ns: int) -> float:
    seconds, rest = divmod(ns, 1_000_000_000)
    return seconds + rest / 1e9


class _Cursor:
    """Walks one JSON document, decoding one value at a time (json's own decoder)."""

    decoder = json.JSONDecoder()

    def __init__(self, text: str, number: int, source: str) -> None:
        self.text = text
        self.pos = 0
        self.number = number
        self.source = source

    def error(self, message: str) -> InputError:
        return InputError(
            f"restic snapshots --json: {message}", source=self.source, line=self.number
        )

    def skip(self) -> None:
        match = _SPACE.compiled.match(self.text, self.pos)
        assert match is not None  # it matches the empty string
        self.pos = match.end()

    def take(self, literal: str) -> bool:
        """Consume ``literal`` (after blanks) if it comes next."""
        self.skip()
        if self.text.startswith(literal, self.pos):
            self.pos += len(literal)
            return True
        return False

    def expect(self, literal: str) -> None:
        if not self.take(literal):
            raise self.error(f"expected {literal!r} at character {self.pos + 1}")

    def value(self) -> Any:
        self.skip()
        try:
            value, self.pos = self.decoder.raw_decode(self.text, self.pos)
        except (ValueError, RecursionError):
            raise self.error(
                f"not valid JSON at character {self.pos + 1} (a cut or damaged document?)"
            ) from None
        return value

    def items(self) -> Iterator[int]:
        """After ``[``: yields the index of each item, which the caller consumes; ends
        after ``]``."""
        self.expect("[")
        if self.take("]"):
            return
        index = 0
        while True:
            yield index
            index += 1
            if self.take("]"):
                return
            self.expect(",")

    def end(self) -> None:
        self.skip()
        if self.pos != len(self.text):
            raise self.error(f"unexpected text after the document at character {self.pos + 1}")


def _document(line: str, groups: dict[GroupKey, list[int]], number: int, source: str) -> int:
    """Add one document's snapshots to ``groups``; returns how many it lists."""
    cursor = _Cursor(line, number, source)
    if cursor.take("null"):  # an empty repository, before 0.11
        cursor.end()
        return 0
    listed = 0
    for index in cursor.items():
        if cursor.take(_GROUP_START):
            key = _group_key(cursor.value(), cursor)
            counted = groups.setdefault(key, [0, -1])
            cursor.expect(",")
            cursor.expect('"snapshots":')
            if not cursor.take("null"):
                for inner in cursor.items():
                    _add(
                        counted, cursor.value(), cursor, f"group {index + 1}, snapshot {inner + 1}"
                    )
                    listed += 1
            cursor.expect("}")
        else:
            snapshot = cursor.value()
            where = f"snapshot {index + 1}"
            hostname, paths, _ = _fields(snapshot, cursor, where)  # grouped by host and paths
            key = (hostname, tuple(sorted(paths)), ())
            _add(groups.setdefault(key, [0, -1]), snapshot, cursor, where)
            listed += 1
    cursor.end()
    return listed


def _add(counted: list[int], snapshot: Any, cursor: _Cursor, where: str) -> None:
    """Count one snapshot into its group's [count, latest ns]."""
    if not isinstance(snapshot, dict):
        raise cursor.error(f"{where} is not an object")
    when = snapshot.get("time")
    if not isinstance(when, str):
        raise cursor.error(f"{where} has no time")
    try:
        ns = snapshot_time_ns(when)
    except ValueError as error:
        raise cursor.error(f"{where}: {error}") from None
    counted[0] += 1
    counted[1] = max(counted[1], ns)


def _fields(snapshot: Any, cursor: _Cursor, where: str) -> GroupKey:
    """A snapshot's (hostname, paths, tags); each may be missing (omitempty) or null."""
    if not isinstance(snapshot, dict):
        raise cursor.error(f"{where} is not an object")
    return _key_of(snapshot, cursor, where)


def _group_key(key: Any, cursor: _Cursor) -> GroupKey:
    if not isinstance(key, dict):
        raise cursor.error("a group_key is not an object")
    return _key_of(key, cursor, "a group_key")


def _key_of(record: dict[str, Any], cursor: _Cursor, where: str) -> GroupKey:
    hostname = record.get("hostname") or ""
    if not isinstance(hostname, str):
        raise cursor.error(f"{where}: hostname is not a string")
    return (
        hostname,
        _strings(record, "paths", cursor, where),
        _strings(record, "tags", cursor, where),
    )


def _strings(record: dict[str, Any], name: str, cursor: _Cursor, where: str) -> tuple[str, ...]:
    value = record.get(name) or []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise cursor.error(f"{where}: {name} is not a list of strings")
    return tuple(value)
