"""Journal files built from the export fixtures by the real systemd-journal-remote."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, IN_CI, require_binary

EXPORTS = FIXTURES / "journal"
JOURNAL_REMOTE_DIRS = ("/usr/lib/systemd", "/lib/systemd")
BUILD_TIMEOUT = 60


@dataclass(frozen=True)
class Journals:
    """One journal file per export fixture, each alone in its own directory."""

    root: Path

    def file(self, name: str) -> str:
        return str(self.root / name / f"{name}.journal")

    def directory(self, name: str) -> str:
        return str(self.root / name)


def journal_remote() -> str:
    """systemd-journal-remote, which Debian installs outside PATH (like require_binary)."""
    path = shutil.which("systemd-journal-remote") or shutil.which(
        "systemd-journal-remote", path=os.pathsep.join(JOURNAL_REMOTE_DIRS)
    )
    if path is None:
        message = "systemd-journal-remote is not installed (bash tests/run.sh installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def build_journals(tmp_path_factory: pytest.TempPathFactory) -> Journals:
    remote = journal_remote()
    require_binary("journalctl")
    root = tmp_path_factory.mktemp("journals")
    for export in sorted(EXPORTS.glob("*.export")):
        directory = root / export.stem
        directory.mkdir()
        subprocess.run(
            [remote, f"--output={directory / export.stem}.journal", str(export)],
            check=True,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=BUILD_TIMEOUT,
        )
    return Journals(root)
