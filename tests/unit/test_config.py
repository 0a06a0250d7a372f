"""Settings: flags beat the environment, which beats the file, which beats defaults."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import pytest

from pushrestic.config import FIELDS, SCHEMA, add_arguments, add_label_argument, load, push_settings
from pushrestic.errors import UsageError


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    add_label_argument(parser)
    return parser.parse_args(list(argv))


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_defaults_apply_when_nothing_is_given() -> None:
    config = load(parse(), {})
    assert config.get("pushgateway.job") == "restic"
    assert config.get("pushgateway.attempts") == 5
    assert config.values["pushgateway.url"].source == "default"
    assert push_settings(config) is None


def test_a_flag_beats_the_environment_which_beats_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[pushgateway]\nurl = "http://file:9091"\njob = "file-job"\ninstance = "file-host"\n',
    )
    environ = {"PUSHRESTIC_GATEWAY": "http://env:9091", "PUSHRESTIC_JOB": "env-job"}
    config = load(parse("--config", str(path), "--gateway", "http://flag:9091"), environ)
    assert config.get("pushgateway.url") == "http://flag:9091"
    assert config.values["pushgateway.url"].source == "flag --gateway"
    assert config.get("pushgateway.job") == "env-job"
    assert config.values["pushgateway.job"].source == "environment PUSHRESTIC_JOB"
    assert config.get("pushgateway.instance") == "file-host"
    assert config.values["pushgateway.instance"].source == f"file {path}"


def test_the_config_file_comes_from_the_environment_too(tmp_path: Path) -> None:
    path = write(tmp_path, '[textfile]\npath = "/tmp/x.prom"\n')
    config = load(parse(), {"PUSHRESTIC_CONFIG": str(path)})
    assert config.file == path
    assert config.get("textfile.path") == "/tmp/x.prom"


def test_the_default_file_is_found_under_xdg_config_home(tmp_path: Path) -> None:
    (tmp_path / "pushrestic").mkdir()
    (tmp_path / "pushrestic" / "config.toml").write_text('[pushgateway]\njob = "x"\n')
    config = load(parse(), {"XDG_CONFIG_HOME": str(tmp_path)})
    assert config.get("pushgateway.job") == "x"


def test_a_named_config_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        load(parse("--config", str(tmp_path / "none.toml")), {})


def test_unknown_keys_and_wrong_types_are_all_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[pushgateway]\nurll = "x"\nattempts = "five"\ninsecure = "yes"\n'
        "[nope]\na = 1\n[labels]\nenv = 3\n",
    )
    with pytest.raises(UsageError) as caught:
        load(parse("--config", str(path)), {})
    message = str(caught.value)
    for key in (
        "pushgateway.urll",
        "nope",
        "pushgateway.attempts",
        "pushgateway.insecure",
        "labels",
    ):
        assert f"'{key}'" in message
    assert "5 problem(s)" in message
    assert "\n" not in message


def test_invalid_toml_is_a_one_line_error(tmp_path: Path) -> None:
    path = write(tmp_path, "[pushgateway\n")
    with pytest.raises(UsageError, match="not valid TOML"):
        load(parse("--config", str(path)), {})


def test_labels_merge_file_then_flags(tmp_path: Path) -> None:
    path = write(tmp_path, '[labels]\nenv = "prod"\nteam = "ops"\n')
    config = load(parse("--config", str(path), "--label", "env=staging"), {})
    assert config.get("labels") == {"env": "staging", "team": "ops"}
    assert config.values["labels"].source == f"file {path} + flag --label"


def test_reserved_labels_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="reserved"):
        load(parse("--label", "instance=x"), {})


def test_numbers_from_the_environment_and_flags_are_checked() -> None:
    with pytest.raises(UsageError, match=r"pushgateway\.deadline"):
        load(parse("--deadline", "inf"), {})
    with pytest.raises(UsageError, match=r"pushgateway\.attempts"):
        load(parse("--attempts", "0"), {})


def test_secrets_are_redacted_when_described(tmp_path: Path) -> None:
    config = load(
        parse("--gateway", "http://gw:9091", "--basic-auth-user", "u"),
        {"PUSHRESTIC_PASSWORD": "hunter2-secret"},
    )
    text = "\n".join(config.describe())
    assert "hunter2-secret" not in text
    assert "pushgateway.password = <redacted>  (environment PUSHRESTIC_PASSWORD)" in text
    settings = push_settings(config)
    assert settings is not None
    assert settings.transport.password == "hunter2-secret"
    assert "hunter2-secret" not in repr(settings)


def test_a_secret_file_gives_its_first_line(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret\nignored\n")
    config = load(
        parse(
            "--gateway", "http://gw:9091", "--basic-auth-user", "u", "--password-file", str(secret)
        ),
        {},
    )
    settings = push_settings(config)
    assert settings is not None
    assert settings.transport.password == "s3cret"


def test_a_secret_with_a_line_break_is_refused() -> None:
    with pytest.raises(UsageError, match="control character"):
        load(parse(), {"PUSHRESTIC_BEARER_TOKEN": "tok\nen"})


def test_a_readable_config_file_holding_a_secret_gets_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path, '[pushgateway]\npassword = "pw"\n', mode=0o644)
    with caplog.at_level(logging.WARNING):
        load(parse("--config", str(path)), {})
    assert "chmod 600" in caplog.text


def test_a_private_config_file_holding_a_secret_gets_no_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path, '[pushgateway]\npassword = "pw"\n', mode=0o600)
    with caplog.at_level(logging.WARNING):
        load(parse("--config", str(path)), {})
    assert caplog.text == ""


def test_every_setting_with_a_flag_can_be_given_on_the_command_line() -> None:
    options = {field.option for field in SCHEMA if field.option}
    help_text = argparse.ArgumentParser()
    add_arguments(help_text)
    add_label_argument(help_text)
    known = {o for action in help_text._actions for o in action.option_strings}
    assert options <= known
    assert all(
        not FIELDS[key].option for key in ("pushgateway.password", "pushgateway.bearer_token")
    )
