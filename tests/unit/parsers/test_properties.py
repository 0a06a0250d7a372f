"""Properties of every parser, for arbitrary input.

1. Whatever the lines, a parser returns or raises InputError (never anything
   else), and finishes within the hypothesis deadline: no catastrophic regex,
   no exception leaking from json, int() or float().
2. The input layer drops skippable lines (status floods, -vv items) before
   decoding them; parsing what it passes on gives the result of parsing every
   line. ``ResticOutput.lines`` is the highest line number a parser saw, which
   a dropped last line lowers, so it is left out of the comparison.
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pushrestic.constants import FORMATS
from pushrestic.errors import InputError
from pushrestic.model import GroupOutput, ResticOutput
from pushrestic.outcome import resolve_outcome
from pushrestic.parsers import parse_groups
from pushrestic.parsers.autorestic import parse_autorestic
from pushrestic.parsers.hookenv import TYPES, parse_hook_environment
from pushrestic.parsers.restic import SKIPPABLE_PREFIXES, numbered, parse_restic
from pushrestic.parsers.units import parse_duration, parse_size, parse_timestamp
from pushrestic.sources import stream as inputs
from pushrestic.sources.stream import LineReader
from tests.conftest import SAMPLES, manifest

# Generous for a slow CI machine, far below what a quadratic regex on a long line costs.
# As many examples as the profile says (tests/conftest.py): 150 in the full run.
QUICKLY = settings(
    deadline=timedelta(milliseconds=1500),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _sample_lines() -> list[str]:
    lines: set[str] = set()
    for entry in manifest():
        text = (SAMPLES / entry["file"]).read_bytes().decode("utf-8", "replace")
        lines.update(line for line in text.split("\n") if line.strip())
    return sorted(lines)


NAMES = ("documents", "local", "usb", "a@b", "my-usb", "x")
# Lines from the references that no sample holds, and autorestic's own lines.
REFERENCE_LINES = [
    "Files:        1523 new,    87 changed, 245812 unmodified",
    "processed 247422 files, 1.234 TiB in 26:03:10",
    "Added:      1.700 GiB",
    "Added to the repo: 5.661 MiB",
    "Would add to the repository: 7.823 KiB (2.436 KiB stored)",
    "skipped creating snapshot",
    "Warning: failed to read all source data during backup",
    "\x1b[2Ksignal interrupt received, cleaning up",
    "[0:00] 17 files 42.453 MiB, total 18 files 45.652 MiB, 0 errors",
    "restic 0.19.0 compiled with go1.24.4 on linux/amd64",
    "6 snapshots would be removed, running prune dry run",
    "this removes          4 blobs / 1.907 KiB",
    "to repack:             3 packs",
    "repository contains 26 packs (4135 blobs) with 94.874 MiB",
    "will delete 1 packs and rewrite 3 packs, this frees 7.789 KiB",
    "Fatal: repository contains errors",
    '{"message_type":"exit_error","code":11,"message":"unable to create lock\\nstorage ID 1"}',
    '{"message_type":"summary","num_errors":1,"broken_packs":null}',
    '{"message_type":"error","message":"pack 1234abcd: unexpected file size"}',
    "Error: 2 errors were found",
    "Error: Encountered errors during cron process:",
    "Copying local → remote",
    'Skipping "documents", not due yet.',
    "Running hooks",
    "> Executing: /usr/bin/bash -c true",
    "> Executing: /usr/bin/restic backup --tag ar:location:documents /data/documents",
    *(f'    Backing up location "{name}"    ' for name in NAMES),
    *(f'  Forgetting for location "{name}"  ' for name in NAMES),
    *(f"Backend: {name}" for name in NAMES),
    *(f'For backend "{name}"' for name in NAMES),
    *(f"{a}@{b}:" for a in NAMES[:3] for b in NAMES[:3]),
    *(f"exit status {code}" for code in (-1, 0, 1, 3, 10, 11, 12, 130)),
    "Done",
]
REAL_LINES = _sample_lines() + REFERENCE_LINES
SUMMARY_KEYS = (
    "files_new",
    "files_changed",
    "files_unmodified",
    "dirs_new",
    "data_blobs",
    "data_added",
    "data_added_packed",
    "total_files_processed",
    "total_bytes_processed",
    "total_duration",
    "backup_start",
    "backup_end",
    "snapshot_id",
    "dry_run",
)
OTHER_KEYS = (
    "code",
    "message",
    "num_errors",
    "during",
    "item",
    "error",
    "action",
    "version",
    "go_version",
    "keep",
    "remove",
    "percent_done",
)
MESSAGE_TYPES = (
    "summary",
    "status",
    "verbose_status",
    "error",
    "exit_error",
    "version",
    "initialized",
    "unknown",
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["0.14.0", "2025-05-04T03:00:01.1+02:00", "45fbd684", "1.5 B"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
json_records = st.fixed_dictionaries(
    {"message_type": st.sampled_from(MESSAGE_TYPES) | json_values},
    optional=dict.fromkeys(SUMMARY_KEYS + OTHER_KEYS, json_values),
)
json_lines = st.one_of(
    json_records.map(lambda record: json.dumps(record, separators=(",", ":"))),
    st.lists(json_records, max_size=3).map(json.dumps),
    json_values.map(json.dumps),
)


def _mutate(line: str, how: str, at: int, text: str, number: int) -> str:
    at = at % (len(line) + 1)
    if how == "cut":
        return line[:at]
    if how == "insert":
        return line[:at] + text + line[at:]
    if how == "digits":
        return re.sub(r"[0-9]+", lambda _: str(number), line)
    if how == "units":
        return re.sub(r"[KMGT]iB|B\b", lambda _: text[:3], line)
    return line


real_lines = st.sampled_from(REAL_LINES)
mutated_lines = st.builds(
    _mutate,
    real_lines,
    st.sampled_from(["cut", "insert", "digits", "units", "keep"]),
    st.integers(0, 200),
    st.text(max_size=12),
    st.integers(0, 10**40),
)
odd_text = st.text(
    alphabet=st.characters() | st.sampled_from("\x00\r\x1b\t\u2028\ufffd"),
    max_size=120,
)
long_lines = st.builds(
    lambda piece, times: piece * times,
    st.sampled_from(
        ["@", "a@b:", " ", "0", "0:0", '"', "\x1b[", "{", "[", ":", " \u2192 ", "Files: "]
    )
    | st.text(min_size=1, max_size=4),
    st.sampled_from([2_000, 20_000, 50_000]) | st.integers(1_000, 50_000),
)
any_line = st.one_of(real_lines, mutated_lines, json_lines, odd_text, long_lines)
logs = st.lists(any_line, max_size=40)
# Lines that a backtracking regex or a recursive decoder chokes on, always tried.
PATHOLOGICAL = [
    "@" * 50_000,  # '(.+)@(.+):' is quadratic on it
    "a@" * 25_000,
    "[" * 100_000,  # json nests too deep
    '{"a":' * 50_000,
    '"' * 50_000,
    " " * 50_000 + "x",
    "Files: " + "0 " * 25_000,
    "\x1b[" * 20_000,
    "\r" * 50_000,
]


def _parses_or_refuses(parse: Callable[[], Any]) -> Any:
    """The parser's result, or None when it raised InputError; anything else fails the test."""
    try:
        return parse()
    except InputError:
        return None


def _check_groups(groups: Iterable[GroupOutput]) -> None:
    for group in groups:
        assert isinstance(group.output, ResticOutput)
        resolve_outcome(group)  # resolving any parsed group never raises


# -- 1. returns or raises InputError, quickly -----------------------------------


@QUICKLY
@given(lines=logs)
@example(lines=PATHOLOGICAL)
def test_restic_parser_returns_or_raises_input_error_for_any_lines(lines: list[str]) -> None:
    output = _parses_or_refuses(lambda: parse_restic(numbered(lines), source="log"))
    if output is not None:
        assert output.lines <= len(lines)
        _check_groups([GroupOutput(None, None, output)])


@QUICKLY
@given(lines=logs)
@example(lines=PATHOLOGICAL)
def test_autorestic_parser_returns_or_raises_input_error_for_any_lines(lines: list[str]) -> None:
    groups = _parses_or_refuses(lambda: parse_autorestic(numbered(lines), source="log"))
    if groups is not None:
        assert all(group.location and group.backend for group in groups)
        _check_groups(groups)


@QUICKLY
@given(lines=logs, fmt=st.sampled_from(FORMATS))
@example(lines=['    Backing up location "a"    ', "Backend: b", *PATHOLOGICAL], fmt="auto")
@example(lines=PATHOLOGICAL, fmt="text")
def test_parse_groups_returns_groups_or_raises_input_error_for_any_lines(
    lines: list[str], fmt: str
) -> None:
    groups = _parses_or_refuses(lambda: parse_groups(numbered(lines), fmt=fmt, source="log"))
    if groups is not None:
        assert groups
        _check_groups(groups)


hook_suffixes = st.one_of(
    st.integers(0, 3).map(str),
    st.sampled_from(["LOCAL", "USB", "MY-USB", "", "0x1", "\u00b2", "9" * 30]),
    st.text(max_size=8),
)
hook_values = st.one_of(
    st.sampled_from(
        [
            "",
            "0",
            "19",
            "-1",
            "3",
            "ee542e57",
            "0 B   (0 B   stored)",
            "85.664 MiB",
            "584B",
            "0:00",
            "26:03:10",
            "1.5 B",
            "\u00b2",
            "1" * 5000,
            "1" + "0" * 400 + " TiB",
        ]
    ),
    st.text(max_size=20),
)
hook_names = st.builds(
    lambda kind, suffix: f"AUTORESTIC_{kind}_{suffix}", st.sampled_from(TYPES), hook_suffixes
)
hook_environments = st.dictionaries(
    hook_names | st.text(max_size=20),
    hook_values,
    max_size=30,
).map(lambda env: {"AUTORESTIC_LOCATION": "documents", **env})


@QUICKLY
@given(environ=hook_environments | st.dictionaries(st.text(), st.text(), max_size=5))
def test_hook_environment_parser_returns_or_raises_input_error_for_any_environment(
    environ: dict[str, str],
) -> None:
    parsed = _parses_or_refuses(lambda: parse_hook_environment(environ))
    if parsed is not None:
        location, groups = parsed
        assert location == environ["AUTORESTIC_LOCATION"].strip()
        assert all(group.location == location for group in groups)
        _check_groups(groups)


@QUICKLY
@given(text=any_line)
def test_unit_parsers_return_a_number_or_raise_value_error_for_any_text(text: str) -> None:
    for parse in (parse_size, parse_duration, parse_timestamp):
        try:
            value = parse(text)
        except ValueError:
            continue
        assert isinstance(value, int | float)
        assert math.isfinite(value)


@given(number=st.integers(0, 1 << 50), exponent=st.integers(0, 4))
def test_parse_size_reads_back_what_restic_formats_within_its_rounding(
    number: int, exponent: int
) -> None:
    # restic: '%d B' for bytes, else '%.3f <unit>' (three decimals, binary units)
    unit = ["B", "KiB", "MiB", "GiB", "TiB"][exponent]
    text = f"{number} B" if exponent == 0 else f"{number / 1024**exponent:.3f} {unit}"
    assert abs(parse_size(text) - number) <= 0.0005 * 1024**exponent + 1


@given(seconds=st.integers(0, 10**7))
def test_parse_duration_reads_back_what_restic_formats(seconds: int) -> None:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
    assert parse_duration(text) == seconds


# -- 2. dropping skippable lines does not change the result -----------------------

SKIPPABLE = [prefix.decode() for prefix in SKIPPABLE_PREFIXES]
STATUS_LINES = [line for line in REAL_LINES if line.startswith('{"message_type":"status"')]
ITEM_LINES = [
    "new       /data/documents/a.txt, saved in 0.002s (702 B added)",
    "modified  /data/documents/b.txt, saved in 0.002s (702 B added, 302 B stored)",
    "modified  /data/documents/, saved in 0.006s (0 B added, 0 B stored, 955 B metadata)",
    "unchanged /data/documents/c.txt",
    "new       /data/evil",  # the first half of an injected name
    *(line for line in REAL_LINES if line.startswith('{"message_type":"verbose_status"')),
]
skippable_lines = st.one_of(
    st.sampled_from(STATUS_LINES + ITEM_LINES),
    st.builds(lambda prefix, rest: prefix + rest, st.sampled_from(SKIPPABLE), st.text(max_size=20)),
    st.sampled_from(SKIPPABLE),  # the prefix alone: stripped, it is no longer one
)
reader_lines = st.one_of(
    skippable_lines,
    skippable_lines.map(lambda line: " " + line),  # not skippable: the input layer keeps it
    real_lines,
    mutated_lines,
    odd_text.filter(lambda text: "\x00" not in text),
).map(lambda line: line.replace("\n", " ").encode("utf-8", "surrogatepass"))
reader_logs = st.lists(reader_lines, max_size=80)


def _parse_read(data: bytes, fmt: str, *, drop: bool) -> object:
    """What parse_groups makes of ``data`` read by LineReader, dropping or keeping skippables."""
    reader = (
        LineReader(io.BytesIO(data), "log")
        if drop
        else LineReader(io.BytesIO(data), "log", skip=())
    )
    try:
        groups = parse_groups(reader, fmt=fmt, source="log")
    except InputError as error:
        return ("InputError", str(error))
    return [replace(group, output=replace(group.output, lines=0)) for group in groups]


def _assert_same_parse(data: bytes, fmt: str = "auto") -> object:
    everything = _parse_read(data, fmt, drop=False)
    assert _parse_read(data, fmt, drop=True) == everything
    return everything


@QUICKLY
@given(
    lines=reader_logs,
    trailing_newline=st.booleans(),
    block_size=st.sampled_from([8, 64, 1 << 20]) | st.integers(8, 4096),
    fmt=st.sampled_from(FORMATS),
)
def test_dropping_skippable_lines_while_reading_does_not_change_the_parse(
    lines: list[bytes], trailing_newline: bool, block_size: int, fmt: str
) -> None:
    data = b"\n".join(lines) + (b"\n" if trailing_newline and lines else b"")
    with mock.patch.object(inputs, "BLOCK_SIZE", block_size):
        _assert_same_parse(data, fmt)


def _status(done: int) -> str:
    return json.dumps(
        {
            "message_type": "status",
            "percent_done": done / 1000,
            "total_files": 1000,
            "files_done": done,
            "current_files": [f"/data/documents/file{done}.bin"],
        },
        separators=(",", ":"),
    )


def test_dropping_skippable_lines_of_a_log_many_blocks_long_keeps_its_summary(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(inputs, "BLOCK_SIZE", 256)
    lines = [_status(done) for done in range(1000)]
    lines[500:500] = [
        '{"message_type":"error","error":{"message":"open /data/x: permission denied"},'
        '"during":"archival","item":"/data/x"}'
    ]
    lines.append(
        '{"message_type":"summary","files_new":999,"files_changed":0,"files_unmodified":0,'
        '"dirs_new":5,"dirs_changed":0,"dirs_unmodified":0,"data_blobs":999,"tree_blobs":5,'
        '"data_added":1048576,"total_files_processed":999,"total_bytes_processed":2097152,'
        '"total_duration":12.5,"snapshot_id":"1c801e48"}'
    )
    lines.extend(_status(1000) for _ in range(300))  # a flood after the summary, too
    data = "\n".join(lines).encode()
    assert len(data) > 100 * inputs.BLOCK_SIZE
    result = _assert_same_parse(data)
    assert isinstance(result, list)
    (group,) = result
    backup = group.output.backup
    assert backup is not None
    assert backup.summary is not None
    assert (backup.summary.files_new, backup.snapshot_id, backup.errors) == (999, "1c801e48", 1)
    assert resolve_outcome(group).exit_code == 3


def test_dropping_skippable_lines_of_a_verbose_text_log_keeps_the_last_summary_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(inputs, "BLOCK_SIZE", 128)
    items = [f"unchanged /data/documents/file{n}.txt" for n in range(400)]
    lines = [
        "using parent snapshot 45fbd684",
        *items[:200],
        "new       /data/documents/evil",
        "Files:        999 new,     0 changed,     0 unmodified",
        ", saved in 0.002s (702 B added)",
        *items[200:],
        "modified  /data/documents/, saved in 0.006s (0 B added, 0 B stored, 955 B metadata)",
        "",
        "Files:           0 new,     1 changed,   399 unmodified",
        "Dirs:            0 new,     1 changed,     0 unmodified",
        "Added to the repository: 2.113 KiB (1.010 KiB stored)",
        "",
        "processed 400 files, 5.653 MiB in 0:01",
        "snapshot cc52f26a saved",
    ]
    result = _assert_same_parse("\n".join(lines).encode())
    assert isinstance(result, list)
    backup = result[0].output.backup
    assert backup is not None
    assert backup.summary is not None
    assert (backup.summary.files_new, backup.summary.files_unmodified) == (0, 399)
    assert backup.snapshot_id == "cc52f26a"


@pytest.mark.parametrize(
    "name",
    [
        "restic-0.14-backup-json-status.jsonl",
        "restic-0.14-backup-json-verbose.jsonl",
        "restic-0.14-backup-text-verbose.log",
        "autorestic-1.8.3-backup-multi-verbose.reconstructed.log",
    ],
)
@pytest.mark.parametrize("block_size", [16, 64, 1 << 20])
def test_dropping_skippable_lines_of_a_sample_does_not_change_its_parse(
    name: str, block_size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inputs, "BLOCK_SIZE", block_size)
    result = _assert_same_parse((SAMPLES / name).read_bytes())
    assert isinstance(result, list)
    assert all(group.output.recognized for group in result if group.output.lines)


@pytest.mark.parametrize("block_size", [64, 1 << 20])
def test_dropping_skippable_lines_inside_an_autorestic_log_does_not_change_its_groups(
    block_size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inputs, "BLOCK_SIZE", block_size)
    lines = [
        '    Backing up location "documents"    ',
        "Running hooks",
        "> Executing: /usr/bin/bash -c cat items.txt",
        "new       /hook/output/looks/like/an/item",
        "Backend: local",
        "> Executing: /usr/bin/restic backup -vv --tag ar:location:documents /data/documents",
        *(f"unchanged /data/documents/file{n}.txt" for n in range(50)),
        "Files:           0 new,     0 changed,    50 unmodified",
        "processed 50 files, 5.653 MiB in 0:00",
        "snapshot ee542e57 saved",
        "Backend: usb",
        "> Executing: /usr/bin/restic backup -vv --tag ar:location:documents /data/documents",
        *(f"unchanged /data/documents/file{n}.txt" for n in range(50)),
        "documents@usb:",
        *(f"unchanged /data/documents/file{n}.txt" for n in range(5)),
        "Fatal: unable to save snapshot: disk full",
        "exit status 1",
        "Error: 1 errors were found",
    ]
    result = _assert_same_parse("\n".join(lines).encode())
    assert isinstance(result, list)
    assert [(g.backend, resolve_outcome(g).exit_code) for g in result] == [("local", 0), ("usb", 1)]
