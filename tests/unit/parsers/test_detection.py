"""Format detection, one owner for ``push`` (parse_groups) and ``run`` (the runner):
:class:`~pushrestic.parsers.Head` holds the first lines, :func:`~pushrestic.parsers.decide`
picks the parser."""

from __future__ import annotations

import pytest

from pushrestic.parsers import HEAD_LINES, Head, decide, parse_groups
from pushrestic.parsers.restic import SKIPPABLE_PREFIXES, numbered
from pushrestic.parsers.snapshots import parse_snapshots
from pushrestic.parsers.stats import parse_stats
from tests.conftest import SAMPLES

STATUS = '{"message_type":"status","percent_done":0.5}'


def test_head_holds_only_the_first_skippable_line_and_every_other() -> None:
    head = Head()
    lines = ["open repository", STATUS, STATUS, "new       /a", "snapshot 1a2b3c4d saved"]
    assert not any(head.hold(number, line) for number, line in numbered(lines))
    assert head.lines == [(1, "open repository"), (2, STATUS), (5, "snapshot 1a2b3c4d saved")]


def test_head_is_full_at_head_lines_lines_that_are_not_skippable() -> None:
    head = Head()
    full = [head.hold(number, line) for number, line in numbered(["x", STATUS] * HEAD_LINES)]
    assert full.index(True) == 2 * HEAD_LINES - 2  # the HEAD_LINES-th "x"
    assert len(head.lines) == HEAD_LINES + 1


def test_head_is_full_at_its_size_when_it_has_one() -> None:
    head = Head(max_size=10)
    assert not head.hold(1, b"12345")
    assert head.hold(2, b"67890")


def test_head_of_bytes_holds_what_the_head_of_their_text_holds() -> None:
    raw = [b"open repository", *SKIPPABLE_PREFIXES, b"caf\xc3\xa9 \xff", *SKIPPABLE_PREFIXES]
    of_bytes, of_text = Head(), Head()
    for number, line in enumerate(raw, 1):
        of_bytes.hold(number, line)
        of_text.hold(number, line.decode("utf-8", "replace"))
    assert of_bytes.lines == of_text.lines
    assert of_bytes.lines[1] == (2, SKIPPABLE_PREFIXES[0].decode())
    assert of_bytes.lines[-1] == (7, "café \ufffd")


@pytest.mark.parametrize(
    ("sample", "fmt", "expected"),
    [
        ("restic-0.14-stats-json.json", "auto", parse_stats),
        ("restic-0.14-stats-text.log", "text", parse_stats),
        ("restic-0.14-snapshots-json.json", "json", parse_snapshots),
        ("restic-0.14-snapshots-json.json", "autorestic", "autorestic"),
        ("restic-0.14-backup-json-initial.jsonl", "auto", "json"),
        ("restic-0.14-backup-text-initial.log", "auto", "text"),
        ("restic-0.14-backup-text-initial.log", "json", "json"),
        ("autorestic-1.8.3-backup-multi.reconstructed.log", "auto", "autorestic"),
    ],
)
def test_decide_picks_a_repository_parser_or_the_format_of_the_incremental_one(
    sample: str, fmt: str, expected: object
) -> None:
    head = Head()
    for number, line in numbered((SAMPLES / sample).read_text().splitlines()):
        if head.hold(number, line):
            break
    assert decide(head.lines, fmt) == expected


def test_parse_groups_decides_on_the_same_lines_whatever_the_status_flood() -> None:
    """A summary after many status lines and HEAD_LINES-1 others is still in the head."""
    lines = ["open repository"] * (HEAD_LINES - 1) + [STATUS] * 1000
    lines.append('{"message_type":"summary","files_new":1,"snapshot_id":"1a2b3c4d"}')
    (group,) = parse_groups(numbered(lines))
    assert group.output.backup is not None
    assert group.output.backup.snapshot_id == "1a2b3c4d"
