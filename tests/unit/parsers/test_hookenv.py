"""autorestic's hook environment: one group per backend, values converted to base units."""

from __future__ import annotations

from typing import Any

import pytest

from pushrestic.errors import InputError
from pushrestic.model import BackupSummary, ExitCodeSource, GroupOutput
from pushrestic.outcome import resolve_outcome
from pushrestic.parsers.hookenv import parse_hook_environment
from pushrestic.parsers.units import parse_duration, parse_size
from tests.conftest import manifest

MIB = 1024**2


def expected_hook_env() -> dict[str, dict[str, str]]:
    entry = next(
        entry
        for entry in manifest()
        if entry["file"] == "autorestic-1.8.3-backup-multi-verbose.reconstructed.log"
    )
    env: dict[str, dict[str, str]] = entry["expected_hook_env"]
    return env


def summary_of(group: GroupOutput) -> BackupSummary:
    assert group.output.backup is not None
    assert group.output.backup.summary is not None
    return group.output.backup.summary


def test_hook_environment_of_the_sample_names_location_and_backends_in_index_order() -> None:
    location, groups = parse_hook_environment(expected_hook_env()["documents"])
    assert location == "documents"
    assert [(group.location, group.backend) for group in groups] == [
        ("documents", "local"),
        ("documents", "usb"),
    ]


@pytest.mark.parametrize(("index", "name"), [(0, "LOCAL"), (1, "USB")])
def test_hook_environment_of_the_sample_gives_every_value_of_a_backend(
    index: int, name: str
) -> None:
    env = expected_hook_env()["documents"]
    group = parse_hook_environment(env)[1][index]

    def value(kind: str) -> str:
        by_index, by_name = env[f"AUTORESTIC_{kind}_{index}"], env[f"AUTORESTIC_{kind}_{name}"]
        assert by_index == by_name
        return by_index

    backup = group.output.backup
    assert backup is not None
    summary = summary_of(group)
    added, _, stored = value("ADDED_SIZE").partition("(")
    parsed: dict[str, Any] = {
        "SNAPSHOT_ID": backup.snapshot_id,
        "PARENT_SNAPSHOT_ID": backup.parent_snapshot_id or "",
        "FILES_ADDED": summary.files_new,
        "FILES_CHANGED": summary.files_changed,
        "FILES_UNMODIFIED": summary.files_unmodified,
        "DIRS_ADDED": summary.dirs_new,
        "DIRS_CHANGED": summary.dirs_changed,
        "DIRS_UNMODIFIED": summary.dirs_unmodified,
        "ADDED_SIZE": summary.added_bytes,
        "PROCESSED_FILES": summary.processed_files,
        "PROCESSED_SIZE": summary.processed_bytes,
        "PROCESSED_DURATION": summary.duration_seconds,
        "EXIT_CODE": group.exit_code,
    }
    expected: dict[str, Any] = {
        "SNAPSHOT_ID": value("SNAPSHOT_ID"),
        "PARENT_SNAPSHOT_ID": value("PARENT_SNAPSHOT_ID"),
        "FILES_ADDED": int(value("FILES_ADDED")),
        "FILES_CHANGED": int(value("FILES_CHANGED")),
        "FILES_UNMODIFIED": int(value("FILES_UNMODIFIED")),
        "DIRS_ADDED": int(value("DIRS_ADDED")),
        "DIRS_CHANGED": int(value("DIRS_CHANGED")),
        "DIRS_UNMODIFIED": int(value("DIRS_UNMODIFIED")),
        "ADDED_SIZE": parse_size(added),
        "PROCESSED_FILES": int(value("PROCESSED_FILES")),
        "PROCESSED_SIZE": parse_size(value("PROCESSED_SIZE")),
        "PROCESSED_DURATION": parse_duration(value("PROCESSED_DURATION")),
        "EXIT_CODE": int(value("EXIT_CODE")),
    }
    assert parsed == expected
    stored_bytes = parse_size(stored.removesuffix("stored)")) if stored else None
    assert summary.added_stored_bytes == stored_bytes
    assert resolve_outcome(group).exit_code == 0


def test_hook_environment_reads_the_zero_size_quirk_as_zero_added_and_zero_stored() -> None:
    env = expected_hook_env()["documents"]
    assert env["AUTORESTIC_ADDED_SIZE_0"] == "0 B   (0 B   stored)"
    local, usb = parse_hook_environment(env)[1]
    assert (summary_of(local).added_bytes, summary_of(local).added_stored_bytes) == (0, 0)
    assert summary_of(usb).added_bytes == round(85.664 * MIB)
    assert summary_of(usb).added_stored_bytes is None  # autorestic's regex drops 'stored'
    assert summary_of(usb).processed_bytes == round(85.652 * MIB)


def test_hook_environment_of_the_failed_sample_location_has_only_its_exit_code() -> None:
    location, groups = parse_hook_environment(expected_hook_env()["mixed"])
    assert location == "mixed"
    assert [(group.backend, group.exit_code) for group in groups] == [("local", 3)]
    assert groups[0].output.backup is None  # autorestic parsed restic's stderr: all empty
    outcome = resolve_outcome(groups[0])
    assert (outcome.exit_code, outcome.source) == (3, ExitCodeSource.AUTORESTIC)


def test_hook_environment_without_location_is_not_a_hook() -> None:
    with pytest.raises(InputError, match="AUTORESTIC_LOCATION is not set"):
        parse_hook_environment({"AUTORESTIC_SNAPSHOT_ID_0": "ee542e57"})


def test_hook_environment_of_a_before_hook_has_no_backend_yet() -> None:
    assert parse_hook_environment({"AUTORESTIC_LOCATION": "documents"}) == ("documents", [])


def test_hook_environment_keeps_an_unsanitised_backend_name() -> None:
    env = {
        "AUTORESTIC_LOCATION": "documents",
        "AUTORESTIC_SNAPSHOT_ID_0": "ee542e57",
        "AUTORESTIC_SNAPSHOT_ID_MY-USB": "ee542e57",
        "AUTORESTIC_EXIT_CODE_0": "0",
        "AUTORESTIC_EXIT_CODE_MY-USB": "0",
    }
    groups = parse_hook_environment(env)[1]
    assert [group.backend for group in groups] == ["my-usb"]


def test_hook_environment_ignores_autorestic_variables_that_are_not_metadata() -> None:
    env = {
        "AUTORESTIC_LOCATION": "documents",
        "AUTORESTIC_LOCAL_RESTIC_PASSWORD": "secret",
        "AUTORESTIC_CONFIG": "/etc/autorestic.yml",
        "AUTORESTIC_SNAPSHOT_ID_0": "ee542e57",
        "AUTORESTIC_SNAPSHOT_ID_LOCAL": "ee542e57",
        "AUTORESTIC_SNAPSHOT_ID_": "x",
        "PATH": "/usr/bin",
    }
    (group,) = parse_hook_environment(env)[1]
    assert group.backend == "local"
    assert group.output.backup is not None
    assert group.output.backup.snapshot_id == "ee542e57"


def test_hook_environment_names_a_backend_by_index_when_no_name_matches() -> None:
    env = {"AUTORESTIC_LOCATION": "docs", "AUTORESTIC_EXIT_CODE_0": "1"}
    groups = parse_hook_environment(env)[1]
    assert [(group.backend, group.exit_code) for group in groups] == [("0", 1)]
    assert resolve_outcome(groups[0]).exit_code == 1


def test_hook_environment_before_autorestic_1_6_has_no_exit_code_and_infers_success() -> None:
    env = {
        "AUTORESTIC_LOCATION": "docs",
        "AUTORESTIC_SNAPSHOT_ID_0": "45fbd684",
        "AUTORESTIC_FILES_ADDED_0": "17",
        "AUTORESTIC_FILES_CHANGED_0": "0",
        "AUTORESTIC_FILES_UNMODIFIED_0": "0",
        "AUTORESTIC_ADDED_SIZE_0": "5.661 MiB",
        "AUTORESTIC_PROCESSED_FILES_0": "17",
        "AUTORESTIC_PROCESSED_SIZE_0": "5.653 MiB",
        "AUTORESTIC_PROCESSED_DURATION_0": "1:02:03",
    }
    group = parse_hook_environment(env)[1][0]
    assert group.exit_code is None
    assert summary_of(group).duration_seconds == 3723
    assert summary_of(group).added_bytes == round(5.661 * MIB)
    outcome = resolve_outcome(group)
    assert (outcome.exit_code, outcome.source) == (0, ExitCodeSource.INFERRED)


def test_hook_environment_reads_exit_code_minus_one_when_restic_did_not_start() -> None:
    env = {"AUTORESTIC_LOCATION": "docs", "AUTORESTIC_EXIT_CODE_0": "-1"}
    assert parse_hook_environment(env)[1][0].exit_code == -1


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AUTORESTIC_FILES_ADDED_0", "many"),
        ("AUTORESTIC_FILES_ADDED_0", "-1"),
        ("AUTORESTIC_FILES_ADDED_0", "\u00b2"),  # str.isdigit() says yes, int() says no
        ("AUTORESTIC_FILES_ADDED_0", "1_000"),
        ("AUTORESTIC_PROCESSED_FILES_0", "1" * 5000),
        ("AUTORESTIC_ADDED_SIZE_0", "1.5 B"),
        ("AUTORESTIC_ADDED_SIZE_0", "5 MB"),
        ("AUTORESTIC_ADDED_SIZE_0", "1" + "0" * 400 + " TiB"),
        ("AUTORESTIC_PROCESSED_SIZE_0", "lots"),
        ("AUTORESTIC_PROCESSED_DURATION_0", "0:75"),
        ("AUTORESTIC_EXIT_CODE_0", "three"),
        ("AUTORESTIC_EXIT_CODE_0", "\u0663"),
    ],
    ids=lambda value: value[:20] if isinstance(value, str) else value,
)
def test_hook_environment_raises_an_input_error_naming_a_variable_that_does_not_parse(
    variable: str, value: str
) -> None:
    kind = variable.removeprefix("AUTORESTIC_").removesuffix("_0")
    env = {"AUTORESTIC_LOCATION": "docs", variable: value}
    with pytest.raises(InputError, match=f"AUTORESTIC_{kind}"):
        parse_hook_environment(env)
