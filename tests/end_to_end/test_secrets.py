"""Secrets never shown: a gateway URL with user info is refused without quoting it, a
malformed one is a usage error, a secret file others may read gets a warning."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli import pushrestic
from tests.conftest import SAMPLES

LOG = SAMPLES / "restic-0.14-backup-text-initial.log"


@pytest.mark.parametrize(
    "url",
    [
        "http://bob:zq1@127.0.0.1:9/",
        "http://bob:zq1/zq2@127.0.0.1:9/",
        "http://bob:zq1#zq2@127.0.0.1:9/",
        "http://bob:zq1?zq2@127.0.0.1:9/",
        "http://[bob:zq1@127.0.0.1:9/",
        "bob:zq1@127.0.0.1:9",
    ],
)
@pytest.mark.parametrize("command", ["push", "flush"])
def test_a_gateway_url_with_user_info_is_refused_without_showing_it(
    tmp_path: Path, url: str, command: str
) -> None:
    args = ["--gateway", url, "--spool-dir", str(tmp_path / "spool"), "--attempts", "1"]
    done = pushrestic(command, *args, *([str(LOG)] if command == "push" else []))
    assert done.code == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "user or password" in lines[0]
    assert "zq" not in done.stdout + done.stderr
    assert "bob" not in done.stdout + done.stderr
    spooled = [p.read_text() for p in tmp_path.rglob("*") if p.is_file()]
    assert not [text for text in spooled if "zq" in text]


@pytest.mark.parametrize(
    "url", ["http://[127.0.0.1:9/", "http://127.0.0.1:port/", "http://gw:70000/"]
)
def test_a_malformed_gateway_url_is_a_usage_error_not_a_traceback(tmp_path: Path, url: str) -> None:
    done = pushrestic("push", "--gateway", url, "--spool-dir", str(tmp_path / "spool"), str(LOG))
    assert done.code == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "expected http(s)://host[:port]" in lines[0]


def test_a_password_file_others_may_read_gets_a_one_line_warning_naming_its_mode(
    tmp_path: Path,
) -> None:
    secret = tmp_path / "password"
    secret.write_text("zq-password\n")
    secret.chmod(0o644)
    done = pushrestic(
        "push",
        "--gateway",
        "http://127.0.0.1:9",
        "--basic-auth-user",
        "backup",
        "--password-file",
        str(secret),
        "--attempts",
        "1",
        "--spool-dir",
        str(tmp_path / "spool"),
        str(LOG),
    )
    warnings = [line for line in done.stderr.splitlines() if str(secret) in line]
    assert len(warnings) == 1, done.stderr
    assert "0644" in warnings[0]
    assert "zq" not in done.stderr
    assert done.code != 2, "the file is still used"
