"""autorestic's console log: one group per (location, backend), with its exit code."""

from __future__ import annotations

import pytest

from pushrestic.errors import InputError
from pushrestic.model import ExitCodeSource, GroupOutput, ResticOutput
from pushrestic.outcome import resolve_outcome
from pushrestic.parsers import detect_format, parse_groups
from pushrestic.parsers.autorestic import AutoresticParser, parse_autorestic
from pushrestic.parsers.restic import numbered, parse_restic
from tests.conftest import SAMPLES, manifest

VERBOSE = "autorestic-1.8.3-backup-multi-verbose.reconstructed.log"
QUIET = "autorestic-1.8.3-backup-multi.reconstructed.log"
GROUPS = [("documents", "local"), ("documents", "usb"), ("config", "local"), ("mixed", "local")]
EXIT_CODES = [0, 0, 0, 3]
# the restic runs the verbose autorestic log embeds, captured on their own
EMBEDDED = {
    ("documents", "local"): "restic-0.14-autorestic-style-backup-local.log",
    ("documents", "usb"): "restic-0.14-autorestic-style-backup-usb.log",
    ("config", "local"): "restic-0.14-autorestic-style-backup-config-local.log",
}


def sample_groups(name: str) -> list[GroupOutput]:
    text = (SAMPLES / name).read_text()
    return parse_groups(numbered(text.split("\n")), source=name)


def parse_log(*lines: str) -> list[GroupOutput]:
    return parse_autorestic(numbered(lines))


def restic_sample(name: str) -> ResticOutput:
    return parse_restic(numbered((SAMPLES / name).read_text().split("\n")))


def exit_codes(groups: list[GroupOutput]) -> list[int | None]:
    return [resolve_outcome(group).exit_code for group in groups]


def test_manifest_lists_both_autorestic_logs_with_autorestic_exit_code_1() -> None:
    entries = {entry["file"]: entry for entry in manifest() if entry["tool"] == "autorestic"}
    assert set(entries) == {VERBOSE, QUIET}
    assert {entry["exit_code"] for entry in entries.values()} == {1}


@pytest.mark.parametrize("name", [VERBOSE, QUIET])
def test_autorestic_log_is_detected_and_split_per_location_and_backend(name: str) -> None:
    groups = sample_groups(name)
    assert [(group.location, group.backend) for group in groups] == GROUPS


@pytest.mark.parametrize("name", [VERBOSE, QUIET])
def test_autorestic_log_gives_each_backend_the_exit_code_autorestic_showed(name: str) -> None:
    groups = sample_groups(name)
    assert exit_codes(groups) == EXIT_CODES
    assert [group.exit_code for group in groups] == EXIT_CODES
    assert {resolve_outcome(group).source for group in groups} == {ExitCodeSource.AUTORESTIC}


def test_verbose_autorestic_log_gives_each_backend_its_snapshot_and_counts() -> None:
    groups = sample_groups(VERBOSE)
    backups = [group.output.backup for group in groups]
    assert all(backup is not None and backup.summary is not None for backup in backups)
    assert [backup.snapshot_id for backup in backups if backup] == [
        "ee542e57",
        "eef808da",
        "6917ab75",
        "7112c9c7",
    ]
    assert [backup.parent_snapshot_id for backup in backups if backup] == [
        "2e8a0d58",
        None,
        "e36a55ac",
        "313c7cd2",
    ]
    counts = [
        (s.files_new, s.files_changed, s.files_unmodified, s.processed_files)
        for s in (backup.summary for backup in backups if backup)
        if s
    ]
    assert counts == [(0, 0, 19, 19), (19, 0, 0, 19), (0, 0, 5, 5), (0, 0, 1, 1)]


@pytest.mark.parametrize(("key", "sample"), EMBEDDED.items(), ids=str)
def test_verbose_autorestic_group_has_the_summary_of_the_restic_run_it_embeds(
    key: tuple[str, str], sample: str
) -> None:
    groups = {(group.location, group.backend): group for group in sample_groups(VERBOSE)}
    embedded = groups[key].output.backup
    alone = restic_sample(sample).backup
    assert embedded is not None
    assert alone is not None
    assert embedded.summary == alone.summary
    assert embedded.snapshot_id == alone.snapshot_id


def test_verbose_autorestic_log_shows_the_partial_backup_that_exited_3() -> None:
    mixed = sample_groups(VERBOSE)[3]
    backup = mixed.output.backup
    assert backup is not None
    assert backup.unreadable_warning
    assert backup.errors == 2  # restic's stderr, shown twice, is counted once
    assert backup.snapshot_saved
    outcome = resolve_outcome(mixed)
    assert outcome.partial
    assert outcome.reason == "some source files could not be read"


def test_verbose_autorestic_log_keeps_the_auto_forget_apart_from_the_backup() -> None:
    groups = sample_groups(VERBOSE)
    forgets = [group.output.forget for group in groups]
    assert [(f.kept_snapshots, f.removed_snapshots) if f else None for f in forgets] == [
        (1, 0),
        (1, 0),
        None,
        None,
    ]
    # the environment dump of a hook is no restic output
    assert all(group.output.fatal is None for group in groups)


def test_non_verbose_autorestic_log_has_no_summaries_but_the_same_outcomes() -> None:
    groups = sample_groups(QUIET)
    assert [group.output.backup is None for group in groups] == [True, True, True, False]
    mixed = groups[3].output.backup
    assert mixed is not None
    assert mixed.summary is None
    assert mixed.unreadable_warning
    assert [resolve_outcome(group).success for group in groups] == [True, True, True, False]


def test_autorestic_markers_decide_the_format_before_any_restic_line() -> None:
    head = list(numbered(["Using config: \t /home/u/.autorestic.yml", "Files:  1 new"]))
    assert detect_format(head) == "autorestic"
    assert detect_format(list(numbered(['{"message_type":"summary"}']))) == "json"
    assert detect_format(list(numbered(["", "snapshot 45fbd684 saved"]))) == "text"
    assert detect_format([]) == "text"


LOCATION_WITH_HOOKS_AT_THE_END = (
    "",
    '    Backing up location "documents"    ',
    "",
    "Backend: local",
    "Backend: usb",
    "",
    "Running hooks",
    "> pushrestic --from-hook",
    "Done",
)


def test_autorestic_log_ending_with_done_after_hooks_is_a_success() -> None:
    # without -v hook output is not shown: a 'Done' after hooks is autorestic's
    groups = parse_log(*LOCATION_WITH_HOOKS_AT_THE_END)
    assert exit_codes(groups) == [0, 0]


def test_autorestic_done_printed_by_a_before_hook_does_not_end_the_location() -> None:
    groups = parse_log(
        '    Backing up location "documents"    ',
        "Running hooks",
        "> echo Done",
        "> Executing: /usr/bin/bash -c echo Done",
        "Done",
        "",
        "Backend: local",
        "> Executing: /usr/bin/restic backup --tag ar:location:documents /data/documents",
        "using parent snapshot 2e8a0d58",
    )
    # cut off mid-backup: no code from autorestic, and restic's output shows no summary
    assert [group.exit_code for group in groups] == [None]
    assert exit_codes(groups) == [None]


def test_autorestic_log_cut_off_mid_location_leaves_the_outcome_to_restic_output() -> None:
    groups = parse_log(
        '    Backing up location "config"    ',
        "Backend: local",
        "> Executing: /usr/bin/restic backup --tag ar:location:config /data/config",
        "using parent snapshot e36a55ac",
        "Files:           0 new,     0 changed,     5 unmodified",
        "Dirs:            0 new,     0 changed,     3 unmodified",
        "Added to the repository: 0 B   (0 B   stored)",
        "processed 5 files, 984 B in 0:00",
        "snapshot 6917ab75 saved",
    )
    assert groups[0].exit_code is None
    assert resolve_outcome(groups[0]).source is ExitCodeSource.INFERRED
    assert exit_codes(groups) == [0]


def test_autorestic_error_block_gives_the_code_and_restic_stderr_not_shown_before() -> None:
    groups = parse_log(
        '    Backing up location "documents"    ',
        "Backend: local",
        "",
        "Running hooks",
        "> notify failure",
        "",
        "documents@local:",
        "Fatal: wrong password or no key found",
        "exit status 12",
        "",
        "Error: 1 errors were found",
    )
    assert exit_codes(groups) == [12]
    assert groups[0].output.fatal == "Fatal: wrong password or no key found"
    assert resolve_outcome(groups[0]).reason == "Fatal: wrong password or no key found"


def test_autorestic_error_block_cut_off_before_exit_status_still_takes_its_lines() -> None:
    groups = parse_log(
        '    Backing up location "documents"    ',
        "Backend: local",
        "Running hooks",
        "documents@local:",
        "Fatal: an empty password is not a password",
        "Error: 1 errors were found",
    )
    assert groups[0].output.fatal == "Fatal: an empty password is not a password"
    assert exit_codes(groups) == [None]


def test_autorestic_line_like_an_error_block_of_an_unknown_backend_is_not_one() -> None:
    groups = parse_log(
        '    Backing up location "documents"    ',
        "Backend: local",
        "> Executing: /usr/bin/restic backup --tag ar:location:documents /data/documents",
        "user@host:",
        "Files:           0 new,     0 changed,    19 unmodified",
        "processed 19 files, 85.652 MiB in 0:00",
        "snapshot ee542e57 saved",
    )
    backup = groups[0].output.backup
    assert backup is not None
    assert backup.snapshot_id == "ee542e57"  # still restic's output after the look-alike
    assert groups[0].exit_code is None
    assert exit_codes(groups) == [0]


def test_autorestic_keeps_restic_output_of_a_docker_location() -> None:
    groups = parse_log(
        '    Backing up location "volume"    ',
        "Backend: local",
        "> Executing: /usr/bin/docker run --rm -v volume:/data cupcakearmy/autorestic:1.8.3 "
        "restic backup --tag ar:location:volume /data",
        "no parent snapshot found, will read all files",
        "Files:           4 new,     0 changed,     0 unmodified",
        "Dirs:            3 new,     0 changed,     0 unmodified",
        "Added to the repository: 3.483 KiB (2.512 KiB stored)",
        "processed 4 files, 972 B in 0:00",
        "snapshot 1c801e48 saved",
        "Done",
    )
    backup = groups[0].output.backup
    assert backup is not None
    assert backup.snapshot_id == "1c801e48"
    assert exit_codes(groups) == [0]


def test_autorestic_hook_output_is_not_taken_for_restic_output() -> None:
    groups = parse_log(
        '    Backing up location "documents"    ',
        "Backend: local",
        "> Executing: /usr/bin/restic backup --tag ar:location:documents /data/documents",
        "Files:           0 new,     0 changed,    19 unmodified",
        "processed 19 files, 85.652 MiB in 0:00",
        "snapshot ee542e57 saved",
        "",
        "Running hooks",
        "> Executing: /usr/bin/bash -c cat old.log",
        "Fatal: wrong password or no key found",
        "snapshot deadbeef saved",
        "Done",
    )
    assert groups[0].output.fatal is None
    backup = groups[0].output.backup
    assert backup is not None
    assert backup.snapshot_id == "ee542e57"
    assert exit_codes(groups) == [0]


def test_autorestic_keeps_locations_in_log_order_and_ends_each_at_the_next_banner() -> None:
    groups = parse_log(
        '    Backing up location "b"    ',
        "Backend: remote",
        '    Backing up location "a"    ',
        "Backend: local",
        "a@local:",
        "Fatal: unable to open config file",
        "exit status 10",
    )
    assert [(g.location, g.backend) for g in groups] == [("b", "remote"), ("a", "local")]
    assert [g.exit_code for g in groups] == [0, 10]


def test_incremental_autorestic_parser_reports_groups_seen_so_far() -> None:
    parser = AutoresticParser("a.log")
    parser.feed(1, '    Backing up location "documents"    \n')
    assert list(parser.groups()) == []
    parser.feed(2, "Backend: local\n")
    assert [(g.location, g.backend, g.exit_code) for g in parser.groups()] == [
        ("documents", "local", None)
    ]
    assert parser.recognized


def test_autorestic_log_without_a_backend_run_is_refused() -> None:
    lines = ["Using config: \t /home/u/.autorestic.yml", 'Skipping "documents", not due yet.']
    with pytest.raises(InputError, match="no backend run"):
        parse_groups(numbered(lines), source="cron.log")


def test_forced_autorestic_format_refuses_a_plain_restic_log() -> None:
    with pytest.raises(InputError, match="no autorestic output"):
        parse_groups(numbered(["snapshot 45fbd684 saved"]), fmt="autorestic", source="r.log")


def test_unknown_format_name_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        parse_groups(numbered(["x"]), fmt="yaml")


# -- '@' in names: 'a@b@c:' heads the error block of location a, backend b@c, and
# of location a@b, backend c ---------------------------------------------------


def location(name: str, *sections: tuple[str, bool]) -> tuple[str, ...]:
    """A non-verbose location as autorestic 1.8.3 prints it: (backend, failed) each."""
    lines = ["", "", f'    Backing up location "{name}"    ', ""]
    for backend, failed in sections:
        lines.append(f"Backend: {backend}")
        if failed:
            lines += ["Fatal: unable to open config file: does not exist", ""]
    if not any(failed for _, failed in sections):
        return (*lines, "Done")
    for backend, failed in sections:
        if failed:
            lines += [
                f"{name}@{backend}:",
                "Fatal: unable to open config file: does not exist",
                "exit status 1",
                "",
            ]
    return tuple(lines)


def outcomes(groups: list[GroupOutput]) -> dict[tuple[str, str], int | None]:
    return {(g.location or "", g.backend or ""): resolve_outcome(g).exit_code for g in groups}


A_FAILED = location("a", ("b@c", True))
A_AT_B_SUCCEEDED = location("a@b", ("c", False))


@pytest.mark.parametrize(
    "log",
    [
        (*A_FAILED, *A_AT_B_SUCCEEDED, "Error: 1 errors were found"),
        (*A_AT_B_SUCCEEDED, *A_FAILED, "Error: 1 errors were found"),
    ],
    ids=["failed-first", "failed-last"],
)
def test_an_error_block_head_with_at_signs_belongs_to_the_location_it_follows(
    log: tuple[str, ...],
) -> None:
    groups = parse_log(*log)
    assert outcomes(groups) == {("a", "b@c"): 1, ("a@b", "c"): 0}


CRON_ERRORS = (
    "Error: Encountered errors during cron process:",
    'Failed to backup location "a":',
    "a@b@c:",
    "Fatal: unable to open config file: does not exist",
    "exit status 1",
)


def cron_location(name: str, backend: str, failed: bool) -> tuple[str, ...]:
    """A location of autorestic's cron (master): its errors come only at the end."""
    lines = ("", "", f'    Backing up location "{name}"    ', "", f"Backend: {backend}")
    if failed:
        return (*lines, "Fatal: unable to open config file: does not exist", "")
    return (*lines, "Done")


@pytest.mark.parametrize("failed_first", [True, False], ids=["failed-first", "failed-last"])
def test_cron_errors_at_the_end_go_to_the_location_they_are_reported_for(
    failed_first: bool,
) -> None:
    a, a_at_b = cron_location("a", "b@c", True), cron_location("a@b", "c", False)
    locations = (*a, *a_at_b) if failed_first else (*a_at_b, *a)
    groups = parse_log(*locations, *CRON_ERRORS)
    assert outcomes(groups) == {("a", "b@c"): 1, ("a@b", "c"): 0}


def test_an_error_block_that_could_be_either_pair_fails_both_and_says_it_is_ambiguous() -> None:
    # no 'Failed to backup location' line: the block could be either pair's
    a, a_at_b = cron_location("a", "b@c", True), cron_location("a@b", "c", False)
    without_location = tuple(line for line in CRON_ERRORS if not line.startswith("Failed"))
    groups = parse_log(*a, *a_at_b, *without_location)
    assert [(g.location, g.backend) for g in groups] == [("a", "b@c"), ("a@b", "c")]
    for group in groups:
        outcome = resolve_outcome(group)
        assert not outcome.success
        assert "ambiguous" in outcome.reason
        assert "a/b@c" in outcome.reason
        assert "a@b/c" in outcome.reason


def test_a_saved_snapshot_is_no_success_for_a_pair_that_may_have_failed() -> None:
    section = (
        '    Backing up location "a@b"    ',
        "Backend: c",
        "> Executing: /usr/bin/restic backup --tag ar:location:a@b /data",
        "Files:           0 new,     0 changed,    19 unmodified",
        "processed 19 files, 85.652 MiB in 0:00",
        "snapshot ee542e57 saved",
        "Done",
    )
    a = cron_location("a", "b@c", True)
    groups = parse_log(*section, *a, "Error: Encountered errors during cron process:", "a@b@c:")
    assert [resolve_outcome(g).success for g in groups] == [False, False]


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 0, 2)], ids=str)
def test_names_with_several_at_signs_are_told_apart_by_their_location(
    order: tuple[int, int, int],
) -> None:
    blocks = [
        location("a@b", ("c@d", True)),
        location("a", ("b@c@d", False), ("x", False)),
        location("a@b@c", ("d", False)),
    ]
    log = [line for index in order for line in blocks[index]]
    groups = parse_log(*log, "Error: 1 errors were found")
    assert outcomes(groups) == {
        ("a@b", "c@d"): 1,
        ("a", "b@c@d"): 0,
        ("a", "x"): 0,
        ("a@b@c", "d"): 0,
    }


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0)], ids=str)
def test_cron_errors_for_names_with_several_at_signs_go_to_the_named_location(
    order: tuple[int, int, int],
) -> None:
    blocks = [
        cron_location("a@b", "c@d", True),
        cron_location("a", "b@c@d", False),
        cron_location("a@b@c", "d", True),
    ]
    log = [line for index in order for line in blocks[index]]
    errors = (
        "Error: Encountered errors during cron process:",
        'Failed to backup location "a@b@c":',
        "a@b@c@d:",
        "Fatal: wrong password or no key found",
        "exit status 12",
        'Failed to backup location "a@b":',
        "a@b@c@d:",
        "Fatal: unable to open config file: does not exist",
        "exit status 1",
    )
    groups = parse_log(*log, *errors)
    assert outcomes(groups) == {("a@b", "c@d"): 1, ("a", "b@c@d"): 0, ("a@b@c", "d"): 12}
