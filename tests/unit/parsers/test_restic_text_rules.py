"""The table that tells restic's text lines apart (``restic._TEXT_RULES``).

A line is looked up by its first four characters, and only that head's rules are
tried: the table gives what a chain of tests over every rule would give only if no
rule can take a line filed under another head. These tests hold the table to that,
on every line of the samples and the references.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pushrestic.parsers import restic
from pushrestic.parsers.restic import parse_restic
from tests.unit.parsers.test_properties import REAL_LINES

TABLE_LINES = [
    *REAL_LINES,
    "skipped creating snapshot",
    "using temporary cache in /tmp/restic-check-cache-123",
    "no parent snapshot found, will read all files",
    "unable to create lock in backend: repository is already locked by PID 7",
    "signal interrupt received, cleaning up",
    "restic 0.16.4 compiled with go1.22.2 on linux/amd64",
    "created restic repository 1a2b3c4d5e at /srv/repo",
    "successfully removed 2 locks",
    "The repository index is damaged and must be repaired.",
    "read all filtered data",
    "read group #1 of 2 data packs (out of total 8 packs in 4 groups)",
    "Fatal: LoadIndex returned errors",
    "removed snapshot 1a2b3c4d",
    "Applying Policy: keep 7 daily snapshots",
    "3 snapshots would be removed, running prune dry run",
    "will delete 3 packs and rewrite 2 packs, this frees 1.000 MiB",
]


def test_every_head_is_four_characters_that_no_count_starts() -> None:
    for head in restic._TEXT_RULES:
        assert len(head) == 4
        assert not "0" <= head[0] <= "9"  # those go to _COUNT_RULES


def _heads_of_each_rule() -> dict[restic._Rule, set[str]]:
    """Every rule, with the heads it is filed under ('' for _COUNT_RULES)."""
    heads: dict[restic._Rule, set[str]] = {}
    for head, rules in [*restic._TEXT_RULES.items(), ("", restic._COUNT_RULES)]:
        for rule in rules:
            heads.setdefault(rule, set()).add(head)
    return heads


@pytest.mark.parametrize("line", sorted(set(TABLE_LINES)))
def test_a_rule_takes_only_lines_filed_under_one_of_its_heads(line: str) -> None:
    stripped = line.strip()
    own = stripped[:4] if stripped[:4] in restic._TEXT_RULES else ""
    for rule, heads in _heads_of_each_rule().items():
        matcher, handle = rule
        if matcher(stripped) is not None:
            assert own in heads, f"{handle.__name__} (under {heads}) takes a line under {own!r}"


def test_every_rule_takes_a_line_of_the_samples_or_the_references() -> None:
    """No rule is dead: each one is reached by some line, under its own head."""
    taken = set()
    for line in TABLE_LINES:
        stripped = line.strip()
        rules = restic._TEXT_RULES.get(stripped[:4], restic._COUNT_RULES)
        for index, (matcher, _) in enumerate(rules):
            if matcher(stripped) is not None:
                taken.add((stripped[:4] if stripped[:4] in restic._TEXT_RULES else "", index))
    every = {(head, i) for head, rules in restic._TEXT_RULES.items() for i in range(len(rules))}
    every.add(("", 0))
    assert every - taken == set()


@pytest.mark.parametrize(
    ("matcher", "line", "expected"),
    [
        (restic._exactly("no errors were found"), "no errors were found", True),
        (restic._exactly("no errors were found"), "no errors were found.", False),
        (restic._exactly("read all data", "read all filtered data"), "read all data", True),
        (restic._exactly("a.b"), "axb", False),  # literal text, not a pattern
        (restic._starting("error: "), "error: open /x: permission denied", True),
        (restic._starting("error: "), " error: x", False),
        (restic._starting("Fatal: "), "Fatal:", False),
    ],
)
def test_literal_matchers_match_exact_text_or_a_start(
    matcher: Callable[[str], object], line: str, expected: bool
) -> None:
    assert (matcher(line) is not None) == expected


def test_a_line_under_a_known_head_that_no_rule_takes_still_reaches_the_lines_of_any_start() -> (
    None
):
    """'Files: ...' that is not a summary line still names a missing source."""
    output = parse_restic(enumerate(["Files: x does not exist, skipping"], 1))
    assert output.missing_sources == 1
    assert output.backup is not None
    assert output.backup.errors == 1
