"""Settings: flags beat the environment, which beats the file, which beats defaults."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import pytest

from pushrestic.config import (
    FIELDS,
    SCHEMA,
    add_arguments,
    add_label_argument,
    load,
    push_settings,
    without_secrets,
)
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


@pytest.mark.parametrize(
    "url",
    [
        "http://bob:zq1@gw:9091/",
        "http://bob:zq1/zq2#zq3@gw:9091/",
        "http://bob:zq1?zq2@gw/",
        "http://[bob:zq1@gw/",
        "https://bob:zq1@[::1]:9091/x",
        "bob:zq1@gw:9091",
    ],
)
def test_the_config_listing_never_shows_a_password_in_a_url(tmp_path: Path, url: str) -> None:
    path = write(tmp_path, '[labels]\nsite = "https://bob:zq9/zq8@site.example/"\n')
    config = load(parse("--config", str(path)), {"PUSHRESTIC_GATEWAY": url})
    text = "\n".join(config.describe())
    assert "zq" not in text
    assert "bob" not in text
    assert "labels = {site = 'https://site.example/' (user info redacted)}" in text
    assert "pushgateway.url = " in text
    assert "(environment PUSHRESTIC_GATEWAY)" in text
    kept = url if "://" in url else f"http://{url}"  # host:port is taken as http://host:port
    assert config.get("pushgateway.url") == kept, "only the listing is redacted"


def test_the_config_listing_keeps_an_at_sign_that_is_not_in_a_url(tmp_path: Path) -> None:
    config = load(parse("--password-file", "/home/bob@corp/pw", "--instance", "bob@host"), {})
    text = "\n".join(config.describe())
    assert "pushgateway.password_file = '/home/bob@corp/pw'" in text
    assert "pushgateway.instance = 'bob@host'" in text


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644], ids=oct)
def test_a_secret_file_others_may_read_is_used_with_a_warning_naming_its_mode(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: int
) -> None:
    secret = tmp_path / "token"
    secret.write_text("t0ken\n")
    secret.chmod(mode)
    config = load(parse("--gateway", "http://gw:9091", "--bearer-token-file", str(secret)), {})
    with caplog.at_level(logging.WARNING):
        settings = push_settings(config)
    assert settings is not None
    assert settings.transport.bearer_token == "t0ken"
    (record,) = caplog.records
    message = record.getMessage()
    assert str(secret) in message
    assert f"{mode:04o}" in message
    assert "\n" not in message
    assert "t0ken" not in message


def test_a_private_secret_file_gets_no_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = tmp_path / "password"
    secret.write_text("pw\n")
    secret.chmod(0o600)
    config = load(
        parse(
            "--gateway", "http://gw:9091", "--basic-auth-user", "u", "--password-file", str(secret)
        ),
        {},
    )
    with caplog.at_level(logging.WARNING):
        assert push_settings(config) is not None
    assert caplog.text == ""


def test_the_wrapped_command_s_environment_holds_no_pushrestic_secret() -> None:
    environ = {
        "PUSHRESTIC_PASSWORD": "pw",
        "PUSHRESTIC_BEARER_TOKEN": "tok",
        "PUSHRESTIC_GATEWAY": "http://gw:9091",
        "RESTIC_PASSWORD": "restic's own",
        "RESTIC_REPOSITORY": "/srv/repo",
        "PATH": "/usr/bin",
    }
    assert without_secrets(environ) == {
        "PUSHRESTIC_GATEWAY": "http://gw:9091",
        "RESTIC_PASSWORD": "restic's own",
        "RESTIC_REPOSITORY": "/srv/repo",
        "PATH": "/usr/bin",
    }


@pytest.mark.parametrize(
    ("given", "taken"),
    [
        ("pushgateway:9091", "http://pushgateway:9091"),
        ("127.0.0.1:9091/", "http://127.0.0.1:9091/"),
        ("[::1]:9091", "http://[::1]:9091"),
        ("http://gw:9091", "http://gw:9091"),
        ("https://gw", "https://gw"),
    ],
)
@pytest.mark.parametrize("where", ["flag", "environment", "file"])
def test_a_gateway_without_a_scheme_is_taken_as_http(
    tmp_path: Path, given: str, taken: str, where: str
) -> None:
    """As prometheus_client takes it: host:port is http://host:port."""
    if where == "flag":
        config = load(parse("--gateway", given), {})
    elif where == "environment":
        config = load(parse(), {"PUSHRESTIC_GATEWAY": given})
    else:
        config = load(parse("--config", str(write(tmp_path, f'pushgateway.url = "{given}"'))), {})
    assert config.get("pushgateway.url") == taken
    settings = push_settings(config)
    assert settings is not None
    assert settings.gateway.url == taken


@pytest.mark.parametrize(
    "given", ["bob:s3cret@gw:9091", "bob@gw:9091", "gw:9091@evil", "ftp://gw:9091"]
)
def test_a_gateway_without_a_scheme_still_may_hold_no_user_nor_another_scheme(given: str) -> None:
    config = load(parse("--gateway", given), {})
    with pytest.raises(UsageError) as raised:
        push_settings(config)
    assert "s3cret" not in str(raised.value)


def test_a_config_file_given_before_the_settings_flags_is_still_read(tmp_path: Path) -> None:
    """add_arguments' --config is set only when given, so a --config parsed before (the
    main parser's, before the subcommand) is not undone."""
    path = write(tmp_path, '[pushgateway]\njob = "from-file"\n')
    args = parse()
    assert not hasattr(args, "config")
    args.config = str(path)
    assert load(args, {}).get("pushgateway.job") == "from-file"


def test_each_setting_s_flag_stores_its_value_under_the_dest_the_schema_derives() -> None:
    args = parse("--spool-dir", "/s", "--grouping-label", "a=b", "--remote-write-header", "X: y")
    assert FIELDS["spool.directory"].dest == "spool_dir"
    assert args.spool_dir == "/s"
    assert FIELDS["pushgateway.grouping_labels"].dest == "grouping_label"
    assert args.grouping_label == ["a=b"]
    assert FIELDS["pushgateway.password"].dest is None


@pytest.mark.parametrize(
    ("key", "given", "value"),
    [
        ("pushgateway.attempts", "3", 3),
        ("pushgateway.timeout", "2", 2.0),
        ("pushgateway.job", "nightly", "nightly"),
        ("spool.directory", "~/spool", str(Path("~/spool").expanduser())),
        ("pushgateway.url", "gw:9091", "http://gw:9091"),
    ],
)
def test_text_from_a_flag_or_the_environment_is_read_as_its_kind(
    key: str, given: str, value: object
) -> None:
    field = FIELDS[key]
    assert field.option is not None
    assert load(parse(field.option, given), {}).get(key) == value
    if field.env is not None:
        assert load(parse(), {field.env: given}).get(key) == value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("attempts = 0", "expected a whole number of at least 1, got 0"),
        ("attempts = true", "expected a whole number of at least 1, got True"),
        ('attempts = "3"', "expected a whole number of at least 1, got '3'"),
        ("timeout = -1", "expected a positive number, got -1"),
        ('timeout = "2"', "expected a number, got a string"),
        ('insecure = "yes"', "expected true or false, got 'yes'"),
        ("job = 3", "expected a string, got a number"),
        ("ca_file = []", "expected a string, got a list"),
    ],
)
def test_a_value_from_the_file_must_have_its_kind_s_toml_type(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, f"[pushgateway]\n{text}\n")
    with pytest.raises(UsageError, match=expected.replace("(", r"\(")):
        load(parse("--config", str(path)), {})


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ('[labels]\njob = "x"\n', "label 'job' is reserved: pushrestic sets it itself"),
        ('[pushgateway.grouping_labels]\n"1a" = "x"\n', "label '1a': not a valid Prometheus"),
        ("--label=__x=y", "label '__x': not a valid Prometheus label name"),
        ("--grouping-label=backend=y", "label 'backend' is reserved: pushrestic sets it itself"),
    ],
)
def test_labels_from_the_file_and_the_flags_get_the_same_check(
    tmp_path: Path, where: str, expected: str
) -> None:
    argv = [where] if where.startswith("--") else ["--config", str(write(tmp_path, where))]
    with pytest.raises(UsageError, match=expected):
        load(parse(*argv), {})


def test_reading_settings_without_labels_does_not_import_prometheus_client() -> None:
    import subprocess
    import sys

    code = (
        "import sys, argparse\n"
        "from pushrestic.config import load\n"
        "load(argparse.Namespace(), {'XDG_CONFIG_HOME': '/nonexistent'})\n"
        "print('prometheus_client' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
