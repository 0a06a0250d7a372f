"""The installed command: exit codes, one-line errors, failed runs still reported."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pushrestic import __version__
from tests.conftest import SAMPLES

Labels = frozenset[tuple[str, str]]


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    def series(self) -> dict[tuple[str, Labels], float]:
        found = {}
        for family in text_string_to_metric_families(self.stdout):
            for sample in family.samples:
                found[(sample.name, frozenset(sample.labels.items()))] = sample.value
        return found

    def value(self, name: str, **labels: str) -> float:
        wanted = {"location": "default", "backend": "default", **labels}
        matches = [
            v for (n, ls), v in self.series().items() if n == name and set(wanted.items()) <= ls
        ]
        assert len(matches) == 1, f"{name} {labels}: {matches}\n{self.stdout}"
        return matches[0]

    def names(self) -> set[str]:
        return {name for name, _ in self.series()}


def pushrestic(*args: str, stdin: bytes | None = None, cwd: Path | None = None) -> Result:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHRESTIC_")}
    done = subprocess.run(
        [sys.executable, "-m", "pushrestic", *args],
        input=stdin if stdin is not None else b"",
        capture_output=True,
        timeout=60,
        env=env,
        cwd=cwd,
        check=False,
    )
    return Result(done.returncode, done.stdout.decode(), done.stderr.decode())


def assert_one_line_error(result: Result, *words: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pushrestic: error: ")
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


def test_the_console_script_is_installed_and_prints_its_version() -> None:
    script = shutil.which("pushrestic")
    assert script is not None, "pip install . puts pushrestic on the PATH"
    done = subprocess.run([script, "--version"], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert done.stdout.strip() == f"pushrestic {__version__}"


def test_the_readme_example_prints_four_groups() -> None:
    example = Path(__file__).parents[2] / "pushrestic" / "examples" / "autorestic-backup.log"
    result = pushrestic("push", "--dry-run", str(example))
    assert result.code == 0, result.stderr
    assert result.value("restic_backup_success", location="documents", backend="usb") == 1
    assert result.value("restic_backup_exit_code", location="mixed", backend="local") == 3
    groups = {
        (dict(ls)["location"], dict(ls)["backend"])
        for n, ls in result.series()
        if n == "restic_backup_success"
    }
    assert groups == {
        ("documents", "local"),
        ("documents", "usb"),
        ("config", "local"),
        ("mixed", "local"),
    }


def test_a_log_on_stdin_is_read_when_no_file_is_named() -> None:
    log = (SAMPLES / "restic-0.14-backup-text-initial.log").read_bytes()
    result = pushrestic("push", "--dry-run", "--location", "docs", stdin=log)
    assert result.code == 0, result.stderr
    assert result.value("restic_backup_files", location="docs", state="new") == 17


def test_the_given_exit_code_beats_what_the_output_suggests() -> None:
    sample = SAMPLES / "restic-0.14-backup-text-initial.log"
    result = pushrestic("push", "--dry-run", "--exit-code", "1", str(sample))
    assert result.code == 0
    assert result.value("restic_backup_success") == 0
    assert result.value("restic_backup_exit_code") == 1
    assert "restic_backup_last_success_timestamp_seconds" not in result.names()


def test_labels_are_added_to_every_series() -> None:
    sample = SAMPLES / "restic-0.14-backup-text-initial.log"
    result = pushrestic("push", "--dry-run", "--label", "env=prod", str(sample))
    assert result.code == 0
    assert all(("env", "prod") in labels for _, labels in result.series())


def test_location_picks_one_group_of_an_autorestic_log() -> None:
    sample = SAMPLES / "autorestic-1.8.3-backup-multi.reconstructed.log"
    result = pushrestic("push", "--dry-run", "--location", "mixed", str(sample))
    assert result.code == 0, result.stderr
    locations = {dict(ls)["location"] for _, ls in result.series()}
    assert locations == {"mixed"}


def test_a_location_that_is_not_in_the_log_is_a_usage_error() -> None:
    sample = SAMPLES / "autorestic-1.8.3-backup-multi.reconstructed.log"
    result = pushrestic("push", "--dry-run", "--location", "nope", str(sample))
    assert result.code == 2
    assert_one_line_error(result, "nope")


def test_a_missing_log_is_reported_as_a_failed_run_with_exit_66(tmp_path: Path) -> None:
    result = pushrestic("push", "--dry-run", "--location", "docs", str(tmp_path / "none.log"))
    assert result.code == 66
    assert_one_line_error(result, "none.log", "failed run")
    assert result.value("restic_backup_success", location="docs") == 0
    assert "restic_backup_exit_code" not in result.names()


def test_a_directory_is_not_a_log(tmp_path: Path) -> None:
    result = pushrestic("push", "--dry-run", str(tmp_path))
    assert result.code == 66
    assert_one_line_error(result, str(tmp_path))
    assert result.value("restic_backup_success") == 0


def test_an_empty_log_is_a_failed_run_with_exit_65(tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    result = pushrestic("push", "--dry-run", str(empty))
    assert result.code == 65
    assert_one_line_error(result, "empty.log", "empty")
    assert result.value("restic_backup_success") == 0


def test_an_empty_log_with_exit_code_0_is_a_quiet_success(tmp_path: Path) -> None:
    empty = tmp_path / "quiet.log"
    empty.write_bytes(b"")
    result = pushrestic("push", "--dry-run", "--exit-code", "0", str(empty))
    assert result.code == 0, result.stderr
    assert result.value("restic_backup_success") == 1
    assert result.value("restic_backup_last_success_timestamp_seconds") > 0


def test_a_binary_file_is_a_failed_run_with_exit_65(tmp_path: Path) -> None:
    binary = tmp_path / "restic.bin"
    binary.write_bytes(bytes(range(256)) * 64)
    result = pushrestic("push", "--dry-run", "--exit-code", "0", str(binary))
    assert result.code == 65
    assert_one_line_error(result, "restic.bin", "binary")
    assert result.value("restic_backup_success") == 0


def test_a_log_of_another_program_is_a_failed_run_with_exit_65(tmp_path: Path) -> None:
    other = tmp_path / "rsync.log"
    other.write_text("sending incremental file list\n./\nfile.txt\n\nsent 1,234 bytes\n")
    result = pushrestic("push", "--dry-run", str(other))
    assert result.code == 65
    assert_one_line_error(result, "rsync.log", "not restic output")
    assert result.value("restic_backup_success") == 0


def test_a_json_summary_with_a_wrong_type_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"message_type":"status","percent_done":0.5}\n'
        '{"message_type":"summary","files_new":"many","snapshot_id":"45fbd684"}\n'
    )
    result = pushrestic("push", "--dry-run", str(bad))
    assert result.code == 65
    assert_one_line_error(result, "bad.jsonl:2", "files_new")
    assert result.value("restic_backup_success") == 0


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["push", "--dry-run", "--label", "job=x", "x.log"], ["job", "reserved"]),
        (["push", "--label", "env=prod", "x.log"], ["--dry-run"]),
    ],
)
def test_usage_errors_exit_2_with_one_line(args: list[str], words: list[str]) -> None:
    result = pushrestic(*args)
    assert result.code == 2
    assert_one_line_error(result, *words)
    assert result.stdout == ""


def test_an_exit_code_out_of_range_is_refused() -> None:
    result = pushrestic("push", "--dry-run", "--exit-code", "300", "x.log")
    assert result.code == 2
    assert "Traceback" not in result.stderr


def test_no_command_prints_help_and_exits_2() -> None:
    result = pushrestic()
    assert result.code == 2
    assert "push" in result.stderr
