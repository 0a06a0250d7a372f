"""The README's Usage commands, run as written against real restic and a real Pushgateway.

Only what a test machine cannot have is replaced: the host names and paths of the
examples by the test's own, and ``autorestic`` (not packaged by Debian) by a
sample of its output.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests import cli
from tests.conftest import SAMPLES, require_binary
from tests.integration.conftest import ResticRepo
from tests.integration.servers import AUTORESTIC_GROUPS, AUTORESTIC_LOG, Pushgateway

pytestmark = pytest.mark.integration

README = Path(__file__).parents[2] / "README.md"


def usage_block() -> str:
    """The ``sh`` block of the README's ``## Usage`` section."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Usage\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match is not None, "README's Usage section has no sh block"
    return match.group(1)


def test_the_readmes_usage_commands_report_every_group_they_promise(
    restic_repo: ResticRepo, gateway: Pushgateway, tmp_path: Path
) -> None:
    source = tmp_path / "srv"
    (source / "docs").mkdir(parents=True)
    (source / "docs" / "a.txt").write_text("hello\n")
    textfile_dir = tmp_path / "node-exporter"
    textfile_dir.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "pushrestic"
    shim.write_text(f'#!/bin/sh\nexec {shlex.join(cli.argv())} "$@"\n')
    shim.chmod(0o755)
    script = usage_block()
    replacements = {
        "http://pushgateway:9091": gateway.url,
        "/var/log/restic.log": str(tmp_path / "restic.log"),
        "/var/lib/prometheus/node-exporter/restic.prom": str(textfile_dir / "restic.prom"),
        "restic backup /srv ": f"restic backup {source} ",
        "autorestic -v backup -a --ci 2>&1": f"cat {SAMPLES / AUTORESTIC_LOG}",
    }
    for old, new in replacements.items():
        assert old in script, f"the README no longer shows {old!r}: update this test"
        script = script.replace(old, new)
    restic_dir = str(Path(require_binary("restic")).parent)
    env = restic_repo.environment(
        {
            "PATH": f"{bin_dir}:{restic_dir}:/usr/bin:/bin",
            "PUSHRESTIC_SPOOL_DIR": str(tmp_path / "spool"),
            "PUSHRESTIC_INSTANCE": "host",
        }
    )
    done = subprocess.run(
        ["bash", "-c", "set -u\n" + script],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert "error" not in done.stderr, done.stderr
    pushed = gateway.pushed()
    groups = {(g["location"], g["backend"], g.get("operation", "")) for g in gateway.group_labels()}
    assert groups == {
        ("srv", "default", ""),
        *((location, backend, "") for location, backend in AUTORESTIC_GROUPS),
        ("repo", "default", "snapshots"),
        ("repo", "default", "stats"),
    }
    assert pushed.value("restic_backup_success", location="srv", backend="default") == 1
    assert pushed.value("restic_backup_exit_code", location="srv", backend="default") == 0
    assert pushed.find("restic_snapshots_listed") != []
    assert {s.labels["mode"] for s in pushed.find("restic_stats_size_bytes")} == {
        "restore-size",
        "raw-data",
    }
    textfile = (textfile_dir / "restic.prom").read_text()
    assert 'restic_backup_success{backend="default",location="default"} 1.0' in textfile
