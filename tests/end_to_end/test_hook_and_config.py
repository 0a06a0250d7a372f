"""``pushrestic hook`` in an autorestic hook's environment, and ``pushrestic config``."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.cli import Ran, pushrestic
from tests.conftest import manifest
from tests.integration.servers import free_port


def run(*args: str, env: dict[str, str]) -> Ran:
    """pushrestic with none of autorestic's variables from outside, only those of ``env``."""
    return pushrestic(*args, env=env, without=("PUSHRESTIC_", "AUTORESTIC_"))


def hook_environment() -> dict[str, str]:
    (entry,) = [e for e in manifest() if "expected_hook_env" in e]
    environment: dict[str, str] = entry["expected_hook_env"]["documents"]
    return environment


def series(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_hook_reports_every_backend_of_its_location() -> None:
    done = run("hook", "--dry-run", env=hook_environment())
    assert done.code == 0, done.stderr
    found = series(done.stdout)
    local = frozenset({("location", "documents"), ("backend", "local")})
    usb = frozenset({("location", "documents"), ("backend", "usb")})
    assert found[("restic_backup_success", local)] == 1
    assert found[("restic_backup_success", usb)] == 1
    assert found[("restic_backup_files", usb | {("state", "new")})] == 19
    assert found[("restic_backup_added_bytes", local)] == 0
    assert found[("restic_backup_added_stored_bytes", local)] == 0


def test_a_failed_backend_with_empty_values_reports_its_exit_code_only() -> None:
    environment = {
        "AUTORESTIC_LOCATION": "mixed",
        "AUTORESTIC_EXIT_CODE_0": "3",
        "AUTORESTIC_EXIT_CODE_LOCAL": "3",
        "AUTORESTIC_SNAPSHOT_ID_0": "",
        "AUTORESTIC_SNAPSHOT_ID_LOCAL": "",
        "AUTORESTIC_FILES_ADDED_0": "",
        "AUTORESTIC_FILES_ADDED_LOCAL": "",
    }
    done = run("hook", "--dry-run", env=environment)
    assert done.code == 0, done.stderr
    found = series(done.stdout)
    group = frozenset({("location", "mixed"), ("backend", "local")})
    assert found[("restic_backup_exit_code", group)] == 3
    assert found[("restic_backup_success", group)] == 0
    assert not any(name == "restic_backup_files" for name, _ in found)


def test_a_hook_without_autorestic_s_environment_still_reports_a_failure() -> None:
    done = run("hook", "--dry-run", "--location", "docs", env={})
    assert done.code == 0, "a reporting problem must not fail autorestic's hook"
    assert "AUTORESTIC_LOCATION" in done.stderr
    assert "Traceback" not in done.stderr
    found = series(done.stdout)
    assert (
        found[("restic_backup_success", frozenset({("location", "docs"), ("backend", "default")}))]
        == 0
    )


def test_config_prints_each_setting_with_its_source_and_no_secret(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[pushgateway]\nurl = "http://gw:9091"\nusername = "u"\n[labels]\nenv = "prod"\n'
    )
    path.chmod(0o600)
    done = run(
        "config",
        "--config",
        str(path),
        "--job",
        "nightly",
        env={"PUSHRESTIC_PASSWORD": "do-not-show-me"},
    )
    assert done.code == 0, done.stderr
    assert f"pushgateway.url = 'http://gw:9091'  (file {path})" in done.stdout
    assert "pushgateway.job = 'nightly'  (flag --job)" in done.stdout
    assert "pushgateway.password = <redacted>  (environment PUSHRESTIC_PASSWORD)" in done.stdout
    assert "pushgateway.attempts = 5  (default)" in done.stdout
    assert "do-not-show-me" not in done.stdout + done.stderr


def test_config_errors_name_every_bad_key_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[pushgateway]\nurl = 5\nbogus = true\n")
    done = run("config", "--config", str(path), env={})
    assert done.code == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "'pushgateway.url'" in lines[0]
    assert "'pushgateway.bogus'" in lines[0]


def test_config_never_shows_a_password_in_the_gateway_url() -> None:
    done = run("config", env={"PUSHRESTIC_GATEWAY": "http://bob:SECRET@host/"})
    assert done.code == 0, done.stderr
    assert "SECRET" not in done.stdout + done.stderr
    assert "bob" not in done.stdout + done.stderr
    assert "pushgateway.url = 'http://host/' (user info redacted)" in done.stdout


# -- a hook exits 0 whatever happens to the report -----------------------------------


def assert_reported_nothing_and_exited_0(done: Ran, *words: str) -> None:
    assert done.code == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for word in words:
        assert word in lines[0]
    assert "Traceback" not in done.stderr


def test_a_hook_exits_0_when_its_configuration_file_is_broken(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[pushgateway]\nattempts = 0\n")
    done = run("hook", "--config", str(config), "--dry-run", env=hook_environment())
    assert_reported_nothing_and_exited_0(done, "pushgateway.attempts")


def test_a_hook_exits_0_when_its_password_file_is_missing(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-password"
    done = run(
        "hook",
        "--gateway",
        "http://127.0.0.1:9091",
        "--basic-auth-user",
        "backup",
        "--password-file",
        str(missing),
        "--spool-dir",
        str(tmp_path / "spool"),
        env=hook_environment(),
    )
    assert_reported_nothing_and_exited_0(done, str(missing))


def test_a_hook_exits_0_when_the_spool_cannot_be_written(tmp_path: Path) -> None:
    """A path under a regular file cannot be a directory, for root too."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    port = free_port()  # nothing listens there
    done = run(
        "hook",
        "--gateway",
        f"http://127.0.0.1:{port}",
        "--attempts",
        "1",
        "--spool-dir",
        str(blocker / "spool"),
        env=hook_environment(),
    )
    assert done.code == 0, done.stderr
    assert str(blocker / "spool") in done.stderr
    assert "Traceback" not in done.stderr
