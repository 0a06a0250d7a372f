"""A copy of this repository as a new user gets it: a clone, nothing ignored."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_binary

ROOT = Path(__file__).parents[2]


def working_tree_clone(destination: Path) -> Path:
    """``git clone`` of this repository, with the working tree's changes committed in
    the clone: exactly what would be committed, and nothing ignored (no .venv,
    no egg-info, no caches). In CI, a fresh clone, that is HEAD itself."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (an sdist): there is no repository to clone")
    git = require_binary("git")
    subprocess.run([git, "clone", "-q", str(ROOT), str(destination)], check=True, timeout=120)

    def listed(*options: str) -> list[str]:
        done = subprocess.run(
            [git, "-C", str(ROOT), "ls-files", "-z", *options],
            capture_output=True,
            check=True,
            timeout=60,
        )
        return [name for name in done.stdout.decode().split("\0") if name]

    for name in listed("--cached", "--others", "--exclude-standard"):
        source, target = ROOT / name, destination / name
        if source.is_symlink() or source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)
            shutil.copy2(source, target, follow_symlinks=False)
        else:
            target.unlink(missing_ok=True)  # deleted in the working tree
    identity = {
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.org",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.org",
    }
    environment = {**os.environ, **identity}
    for arguments in (["add", "-A"], ["commit", "-q", "--allow-empty", "-m", "working tree"]):
        subprocess.run(
            [git, "-C", str(destination), *arguments], check=True, timeout=60, env=environment
        )
    return destination
