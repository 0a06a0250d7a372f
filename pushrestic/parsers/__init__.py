"""Parsers: pure functions from numbered lines (or an environment) to typed groups.

One module per input format: ``restic`` (text and ``--json``, mixed as real
logs mix them), ``autorestic`` (console logs), ``hookenv`` (autorestic's hook
environment), ``stats`` and ``snapshots`` (``restic stats``, ``restic snapshots
--json``: recognized by their first line); ``units`` converts restic's human
sizes and durations.
:func:`parse_groups` picks the format and returns one GroupOutput per
(location, backend) the input shows. The format is decided in one place, for it
and for the wrapper (``sources.command``): :class:`Head` holds the first lines,
:func:`decide` picks the parser from them.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator

from pushrestic.constants import FORMATS
from pushrestic.errors import InputError, NothingToReport
from pushrestic.model import GroupOutput, ResticOutput
from pushrestic.parsers.autorestic import AUTORESTIC_MARKERS, AutoresticParser
from pushrestic.parsers.restic import (
    SKIPPABLE_PREFIXES,
    SKIPPABLE_TEXT,
    NumberedLines,
    ResticParser,
)

# The format is decided on the first this many lines that are not skippable.
HEAD_LINES = 64

# The parser of a whole ``restic stats`` or ``restic snapshots --json`` output.
RepositoryParser = Callable[..., ResticOutput]


def detect_format(head: list[tuple[int, str]]) -> str:
    """'autorestic' if autorestic's own lines appear in the first lines, else 'text' or 'json'."""
    for _, line in head:
        stripped = line.strip()
        if any(marker.fullmatch(stripped) for marker in AUTORESTIC_MARKERS):
            return "autorestic"
    for _, line in head:
        stripped = line.strip()
        if stripped:
            return "json" if stripped[0] in "{[" else "text"
    return "text"


class Head:
    """The first lines of an input, held until its format is decided (see :func:`decide`).

    Full at HEAD_LINES lines that are not skippable, or at ``max_size`` (the sizes of
    the lines held: bytes, or characters for text) if one is given. Skippable lines
    (status floods, -vv items) are all alike to the parsers, so only the first is
    held: the format is decided by the same lines whether or not the input layer
    dropped them, and memory stays bounded.
    """

    __slots__ = ("_counted", "_max_size", "_size", "_skippable_held", "lines")

    def __init__(self, max_size: int | None = None) -> None:
        self.lines: list[tuple[int, str]] = []
        self._counted = 0
        self._size = 0
        self._max_size = max_size
        self._skippable_held = False

    def hold(self, number: int, line: str | bytes) -> bool:
        """Hold line ``number`` (bytes are decoded as UTF-8, bad bytes replaced), unless
        it is a skippable line after the first. True once the head is full."""
        if isinstance(line, bytes):
            skippable = line.startswith(SKIPPABLE_PREFIXES)
        else:
            skippable = line.startswith(SKIPPABLE_TEXT)
        if skippable:
            if self._skippable_held:
                return False
            self._skippable_held = True
        else:
            self._counted += 1
        self._size += len(line)
        text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
        self.lines.append((number, text))
        return self._counted >= HEAD_LINES or (
            self._max_size is not None and self._size >= self._max_size
        )


def decide(head: list[tuple[int, str]], fmt: str = "auto") -> str | RepositoryParser:
    """How an input whose first lines are ``head`` is parsed, given ``--format`` ``fmt``.

    ``restic stats`` and ``restic snapshots --json`` output (unless ``fmt`` is
    'autorestic') by its repository parser, whole (see :func:`repository_parser`);
    anything else by the incremental parser (see :func:`new_parser`) of the format
    returned: ``fmt``, or for 'auto' what :func:`detect_format` finds.
    """
    if fmt == "auto":
        fmt = detect_format(head)
    if fmt != "autorestic" and (repository := repository_parser(head)) is not None:
        return repository
    return fmt


def parse_groups(lines: NumberedLines, *, fmt: str = "auto", source: str = "") -> list[GroupOutput]:
    """Parse a whole input; one GroupOutput per (location, backend) it shows.

    A plain restic log gives one group with no location or backend (the caller
    names them). Raises InputError when nothing in the input is restic's or
    autorestic's output (including an empty input), NothingToReport when it is
    only the output of restic commands that are not reported (see groups_of).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    iterator: Iterator[tuple[int, str]] = iter(lines)
    head = Head()
    for number, line in iterator:
        if head.hold(number, line):
            break
    if not head.lines:
        raise InputError("empty input: no restic output to report on", source=source)
    how = decide(head.lines, fmt)
    every_line = itertools.chain(head.lines, iterator)
    if not isinstance(how, str):
        return [GroupOutput(None, None, how(every_line, source=source))]
    parser = new_parser(how, source)
    parser.feed_all(every_line)
    return groups_of(parser, source)


def repository_parser(head: list[tuple[int, str]]) -> RepositoryParser | None:
    """The parser of ``restic stats`` or ``restic snapshots --json`` output, if the
    first lines show one (see ``stats.detect``, ``snapshots.detect``), else None."""
    from pushrestic.parsers import snapshots, stats

    if stats.detect(head):
        return stats.parse_stats
    return snapshots.parse_snapshots if snapshots.detect(head) else None


def new_parser(fmt: str, source: str = "") -> AutoresticParser | ResticParser:
    """The incremental parser for a decided format ('autorestic', else restic's)."""
    return AutoresticParser(source) if fmt == "autorestic" else ResticParser(source)


def groups_of(parser: AutoresticParser | ResticParser, source: str = "") -> list[GroupOutput]:
    """What a parser fed a whole input shows, one GroupOutput per group.

    Raises InputError when nothing it was fed is restic's or autorestic's output,
    and NothingToReport (naming the commands) when all it shows is the output of
    ``restic init``, ``unlock``, ``version`` or the ``snapshots`` table.
    """
    if isinstance(parser, AutoresticParser):
        groups = list(parser.groups())
        if not parser.recognized:
            raise InputError("no autorestic output found", source=source)
        if not groups:
            raise InputError("autorestic log shows no backend run", source=source)
        return groups
    output = parser.result()
    if not output.recognized:
        raise InputError("not restic output: no line restic prints was found", source=source)
    if parser.unreported_commands and _reports_nothing(output):
        raise NothingToReport(parser.unreported_commands, source=source)
    return [GroupOutput(None, None, output)]


def _reports_nothing(output: ResticOutput) -> bool:
    """Whether ``output`` holds nothing but the restic version and the line count."""
    bare = dataclasses.replace(output, restic_version=None, lines=0, recognized=False)
    return bare == ResticOutput()
