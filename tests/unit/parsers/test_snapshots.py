"""``restic snapshots --json``, 0.9 to 0.19: the samples, the shapes only the source shows,
exact times, and a document far longer than a log line.

The captured samples are restic 0.14's; the other documents below are rebuilt
from ``cmd/restic/cmd_snapshots.go`` and ``internal/restic/snapshot.go`` (0.19:
``internal/data``) at the tag named beside them, and marked "rebuilt".
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from pushrestic.constants import MAX_LINE
from pushrestic.errors import InputError
from pushrestic.model import ExitCodeSource, Outcome, ResticOutput, Run, SnapshotGroup
from pushrestic.outcome import resolve_outcome
from pushrestic.parsers import parse_groups
from pushrestic.parsers.restic import numbered
from pushrestic.parsers.snapshots import (
    LONG_LINE_PREFIXES,
    detect,
    parse_snapshots,
    snapshot_time_ns,
)
from pushrestic.parsers.units import parse_timestamp
from pushrestic.sources.stream import BLOCK_SIZE, LineReader
from tests.conftest import SAMPLES, manifest

SNAPSHOT_SAMPLES = [entry for entry in manifest() if "expected_snapshots" in entry]
TREE = "f" * 64


def snapshot(
    when: str, host: str | None = "a", paths: Any = ("/srv",), **extra: Any
) -> dict[str, Any]:
    """A snapshot as restic encodes it (``time`` first; hostname omitempty)."""
    record: dict[str, Any] = {"time": when, "tree": TREE, "paths": list(paths) if paths else paths}
    if host is not None:
        record["hostname"] = host
    record.update(extra)
    record.update(id="1" * 64, short_id="11111111")
    return record


def document(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def parse(*lines: str) -> ResticOutput:
    return parse_snapshots(numbered(lines), source="snapshots.json")


def groups(
    output: ResticOutput,
) -> list[tuple[str, tuple[str, ...], tuple[str, ...], int, float | None]]:
    assert output.snapshots is not None
    return [
        (g.hostname, g.paths, g.tags, g.snapshots, g.latest_at) for g in output.snapshots.groups
    ]


# -- the samples -------------------------------------------------------------------


def test_every_snapshots_json_sample_has_an_expectation() -> None:
    names = {
        entry["file"]
        for entry in manifest()
        if "-snapshots-json" in entry["file"] and entry["tool"] == "restic"
    }
    assert names == {entry["file"] for entry in SNAPSHOT_SAMPLES}
    assert len(names) == 3


@pytest.mark.parametrize("entry", SNAPSHOT_SAMPLES, ids=lambda entry: entry["file"])
def test_snapshots_sample_parses_to_its_manifest_expectation(entry: dict[str, Any]) -> None:
    text = (SAMPLES / entry["file"]).read_text()
    output = parse_snapshots(numbered(text.split("\n")), source=entry["file"])
    expected = entry["expected_snapshots"]
    assert output.snapshots is not None
    assert output.snapshots.total == expected["total"]
    assert groups(output) == [
        (host, tuple(paths), tuple(tags), count, parse_timestamp(latest))
        for host, paths, tags, count, latest in expected["groups"]
    ]


@pytest.mark.parametrize("entry", SNAPSHOT_SAMPLES, ids=lambda entry: entry["file"])
def test_snapshots_sample_is_a_successful_snapshots_group_through_parse_groups(
    entry: dict[str, Any],
) -> None:
    text = (SAMPLES / entry["file"]).read_text()
    (group,) = parse_groups(numbered(text.split("\n")), source=entry["file"])
    assert resolve_outcome(group) == Outcome(0, ExitCodeSource.INFERRED)
    run = Run("repo", "local", resolve_outcome(group), group.output)
    assert not run.is_backup
    assert (run.operation, run.group) == ("snapshots", ("repo", "local", "snapshots"))


# -- shapes (rebuilt) ----------------------------------------------------------------


def test_the_plain_list_is_grouped_by_host_and_sorted_paths_as_latest_groups_it() -> None:
    output = parse(
        document(
            [
                snapshot("2026-11-20T03:00:00Z", "a", ["/srv", "/etc"], tags=["x"]),
                snapshot("2026-11-21T03:00:00Z", "a", ["/etc", "/srv"], tags=["y"]),
                snapshot("2026-11-21T04:00:00Z", "b", ["/srv"]),
            ]
        )
    )
    assert groups(output) == [
        ("a", ("/etc", "/srv"), (), 2, parse_timestamp("2026-11-21T03:00:00Z")),
        ("b", ("/srv",), (), 1, parse_timestamp("2026-11-21T04:00:00Z")),
    ]
    assert output.snapshots is not None
    assert output.snapshots.total == 3


def test_rebuilt_group_by_keeps_what_restic_grouped_by() -> None:
    # restic@v0.9.5+: [{"group_key":{hostname,paths,tags},"snapshots":[...]}]
    output = parse(
        document(
            [
                {
                    "group_key": {"hostname": "", "paths": None, "tags": ["daily", "srv"]},
                    "snapshots": [snapshot("2026-11-21T03:00:00Z", "a", tags=["srv", "daily"])],
                },
                {
                    "group_key": {"hostname": "b", "paths": ["/home"], "tags": None},
                    "snapshots": [
                        snapshot("2026-11-20T03:00:00+01:00", "b", ["/home"]),
                        snapshot("2026-11-20T02:30:00Z", "b", ["/home"]),
                    ],
                },
            ]
        )
    )
    assert groups(output) == [
        ("", (), ("daily", "srv"), 1, parse_timestamp("2026-11-21T03:00:00Z")),
        ("b", ("/home",), (), 2, parse_timestamp("2026-11-20T02:30:00Z")),
    ]


def test_rebuilt_0_17_snapshots_with_summary_and_program_version_are_read() -> None:
    # restic@v0.17.0: program_version (0.16+) and summary (0.17+) after tags.
    summary = {"backup_start": "2026-11-21T03:00:00Z", "backup_end": "2026-11-21T03:01:00Z"}
    record = snapshot("2026-11-21T03:00:00.5Z", program_version="restic 0.17.0", summary=summary)
    assert groups(parse(document([record])))[0][3:] == (
        1,
        parse_timestamp("2026-11-21T03:00:00.5Z"),
    )


def test_a_snapshot_without_hostname_or_paths_is_grouped_under_empty_values() -> None:
    # hostname is omitempty; paths may be null.
    output = parse(document([snapshot("2026-11-21T03:00:00Z", host=None, paths=None)]))
    assert groups(output)[0][:4] == ("", (), (), 1)


@pytest.mark.parametrize("empty", ["[]", "null"])
def test_an_empty_repository_lists_nothing_and_counts_zero(empty: str) -> None:
    # '[]' from 0.11, 'null' before (#2979).
    output = parse(empty)
    assert output.snapshots is not None
    assert (output.snapshots.groups, output.snapshots.total) == ((), 0)
    (group,) = parse_groups(numbered([empty]))
    assert resolve_outcome(group).success


def test_a_group_listed_without_snapshots_counts_zero_and_has_no_latest_time() -> None:
    output = parse(
        document([{"group_key": {"hostname": "a", "paths": None, "tags": None}, "snapshots": None}])
    )
    assert groups(output) == [("a", (), (), 0, None)]


def test_two_documents_are_merged_and_a_group_in_both_is_one_group() -> None:
    output = parse(
        document([snapshot("2026-11-20T03:00:00Z", "a")]),
        "",
        document([snapshot("2026-11-21T03:00:00Z", "a"), snapshot("2026-11-21T03:00:00Z", "b")]),
    )
    assert [(g[0], g[3], g[4]) for g in groups(output)] == [
        ("a", 2, parse_timestamp("2026-11-21T03:00:00Z")),
        ("b", 1, parse_timestamp("2026-11-21T03:00:00Z")),
    ]
    assert output.snapshots is not None
    assert output.snapshots.total == 3


def test_a_fatal_line_is_kept_and_other_text_is_ignored() -> None:
    output = parse(document([snapshot("2026-11-21T03:00:00Z")]), "some warning", "Fatal: boom")
    assert output.fatal == "Fatal: boom"
    assert output.snapshots is not None
    assert output.snapshots.total == 1


# -- exact times ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("2026-11-21T22:25:13.273733134Z", 1795299913_273733134),
        ("2026-11-21T23:25:13.273733134+01:00", 1795299913_273733134),
        ("2026-11-21T17:55:13.273733134-04:30", 1795299913_273733134),
        ("2026-11-21T22:25:13.2Z", 1795299913_200000000),
        ("2026-11-21T22:25:13Z", 1795299913_000000000),
    ],
)
def test_snapshot_times_are_read_exactly_with_nanoseconds_and_their_offset(
    text: str, ns: int
) -> None:
    assert snapshot_time_ns(text) == ns


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-21 22:25:13Z",
        "2026-11-21T22:25:13",
        "2026-11-21T22:25:13.1234567890Z",
        "yesterday",
        "2026-13-01T00:00:00Z",
    ],
)
def test_a_time_restic_does_not_write_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="RFC 3339"):
        snapshot_time_ns(text)


def test_the_latest_of_two_snapshots_a_nanosecond_apart_is_the_later_one() -> None:
    # A float cannot hold both apart; the comparison is made on whole nanoseconds.
    earlier, later = "2026-11-21T22:25:13.000000001Z", "2026-11-21T22:25:13.000000002+00:00"
    assert snapshot_time_ns(later) - snapshot_time_ns(earlier) == 1
    output = parse(document([snapshot(later), snapshot(earlier)]))
    assert groups(output)[0][4] == pytest.approx(1795299913.0)


def test_the_latest_time_compares_instants_not_local_clock_readings() -> None:
    # 04:00+02:00 is 02:00Z: earlier than 03:00Z although its clock reads later.
    output = parse(
        document([snapshot("2026-11-21T04:00:00+02:00"), snapshot("2026-11-21T03:00:00Z")])
    )
    assert groups(output)[0][4] == parse_timestamp("2026-11-21T03:00:00Z")


# -- nonsense ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('[{"time":"2026-11-21T03:00:00Z","tree":"x"', "not valid JSON"),
        ('[{"time":"2026-11-21T03:00:00Z"}] trailing', "unexpected text"),
        ('[{"time":"2026-11-21T03:00:00Z"},]', "not valid JSON"),
        ('[{"time":3}]', "snapshot 1 has no time"),
        ('[{"time":"2026-11-21T03:00:00Z"},{"time":"soon"}]', "snapshot 2: not an RFC 3339"),
        ('[{"time":"2026-11-21T03:00:00Z","paths":"/srv"}]', "paths is not a list"),
        ('[{"time":"2026-11-21T03:00:00Z","hostname":7}]', "hostname is not a string"),
        ('[{"group_key":{"hostname":"a"},"snapshots":[{"time":1}]}]', "group 1, snapshot 1"),
        ('[{"group_key":7,"snapshots":[]}]', "group_key is not an object"),
        ('[{"group_key":{},"other":1}]', "expected '\"snapshots\":'"),
    ],
)
def test_a_document_restic_does_not_print_is_an_error_naming_the_line_and_snapshot(
    line: str, message: str
) -> None:
    with pytest.raises(InputError, match=message) as caught:
        parse("", line)
    assert caught.value.line == 2


def test_text_without_a_document_is_an_error() -> None:
    with pytest.raises(InputError, match="no restic snapshots --json document"):
        parse("Fatal: wrong password or no key found")


# -- detection -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "found"),
    [
        (['[{"time":"2026-11-21T03:00:00Z"}]'], True),
        (['[{"group_key":{}}]', "warning"], True),
        (["[]"], True),
        (["", "null", ""], True),
        (["[]", "Fatal: something else"], False),  # forget --json with nothing, say
        (['[{"tags":null,"host":"a","paths":["/srv"],"keep":[]}]'], False),  # forget --json
        (["ID        Time                 Host"], False),  # the text table
        (["no parent snapshot found, will read all files", '[{"time":"x"}]'], False),
    ],
)
def test_snapshots_json_is_recognized_by_its_first_line(lines: list[str], found: bool) -> None:
    assert detect(list(numbered(lines))) is found


# -- a document longer than a line may be ------------------------------------------------


def big_document(at_least: int) -> bytes:
    one = snapshot("2026-11-21T22:25:13.273733134+01:00", "a", ["/data/documents"])
    count = at_least // len(document(one)) + 1
    return document([one] * count).encode()


def test_a_snapshots_document_longer_than_a_line_is_read_whole_through_the_input_layer() -> None:
    body = big_document(3 * MAX_LINE + BLOCK_SIZE // 2)
    assert body.startswith(LONG_LINE_PREFIXES)
    reader = LineReader(io.BytesIO(body + b"\nFatal: after it\n"), "big.json")
    (group,) = parse_groups(reader, source="big.json")
    assert group.output.snapshots is not None
    assert group.output.snapshots.total == len(json.loads(body))
    assert group.output.fatal == "Fatal: after it"
    assert reader.lines == 2


def test_other_lines_are_still_cut_at_the_line_limit() -> None:
    body = b"x" * (3 * MAX_LINE) + b"\nnext\n"
    lines = list(LineReader(io.BytesIO(body), "long.log"))
    assert [len(text) for _, text in lines] == [MAX_LINE, 4]


def test_a_model_group_is_what_the_parser_returns() -> None:
    output = parse(document([snapshot("2026-11-21T03:00:00Z", "a", ["/srv"], tags=["t"])]))
    assert output.snapshots is not None
    assert output.snapshots.groups == (
        SnapshotGroup("a", ("/srv",), (), 1, parse_timestamp("2026-11-21T03:00:00Z")),
    )
