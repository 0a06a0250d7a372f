"""Parsers: pure functions from numbered lines (or an environment) to typed groups.

One module per input format: ``restic`` (text and ``--json``, mixed as real
logs mix them), ``autorestic`` (console logs), ``hookenv`` (autorestic's hook
environment), ``stats`` and ``snapshots`` (``restic stats``, ``restic snapshots
--json``: recognized by their first line); ``units`` converts restic's human
sizes and durations.
:func:`parse_groups` picks the format and returns one GroupOutput per
(location, backend) the input shows.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator

from pushrestic.constants import FORMATS
from pushrestic.errors import InputError, NothingToReport
from pushrestic.model import GroupOutput, ResticOutput
from pushrestic.parsers.autorestic import AUTORESTIC_MARKERS, AutoresticParser
from pushrestic.parsers.restic import SKIPPABLE_TEXT, NumberedLines, ResticParser

_PEEK = 64


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


def _peek(iterator: Iterator[tuple[int, str]]) -> list[tuple[int, str]]:
    """The first lines, for detect_format: up to _PEEK lines that are not skippable.

    Skippable lines (status floods, -vv items) are all alike to the parsers, so only
    the first is kept: the format is decided by the same lines whether or not the
    input layer dropped them, and memory stays bounded.
    """
    head: list[tuple[int, str]] = []
    kept = 0
    skippable_kept = False
    for item in iterator:
        if item[1].startswith(SKIPPABLE_TEXT):
            if skippable_kept:
                continue
            skippable_kept = True
        else:
            kept += 1
        head.append(item)
        if kept >= _PEEK:
            break
    return head


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
    head = _peek(iterator)
    if not head:
        raise InputError("empty input: no restic output to report on", source=source)
    if fmt == "auto":
        fmt = detect_format(head)
    if fmt != "autorestic" and (repository := repository_parser(head)) is not None:
        return [GroupOutput(None, None, repository(itertools.chain(head, iterator), source=source))]
    parser = new_parser(fmt, source)
    parser.feed_all(itertools.chain(head, iterator))
    return groups_of(parser, source)


def repository_parser(head: list[tuple[int, str]]) -> Callable[..., ResticOutput] | None:
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
