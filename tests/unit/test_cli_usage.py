"""cli: the parser speaks like a good Unix tool: global options anywhere, every option's
default and environment variable in --help, a description for every command."""

from __future__ import annotations

import argparse

import pytest

from pushrestic.cli import build_parser
from pushrestic.config import SCHEMA


def commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(subparsers.choices)


def options(command: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {o: a for a in command._actions for o in a.option_strings if o.startswith("--")}


@pytest.mark.parametrize("name", sorted(commands()))
def test_every_setting_s_help_says_its_default_and_environment_variable(name: str) -> None:
    shown = options(commands()[name])
    for field in SCHEMA:
        if field.option is None or field.option not in shown:
            continue
        text = shown[field.option].help or ""
        assert "default: " in text, (name, field.option, text)
        if field.env:
            assert field.env in text, (name, field.option, text)
    if "--config" in shown:
        assert "PUSHRESTIC_CONFIG" in (shown["--config"].help or "")


def test_the_help_shows_the_defaults_as_they_are(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["push", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--gateway URL Pushgateway URL (default: none; env PUSHRESTIC_GATEWAY)" in text
    assert "--attempts INT attempts per push (default: 5)" in text
    assert "(default: the host name; env PUSHRESTIC_INSTANCE)" in text
    assert "env PUSHRESTIC_PASSWORD_FILE; or the secret itself in PUSHRESTIC_PASSWORD" in text


@pytest.mark.parametrize("name", ["flush", "spool", "groups", "delete", "config"])
def test_each_command_has_a_description(name: str) -> None:
    command = commands()[name]
    assert command.description
    assert len(command.description) > len(name) + 20


@pytest.mark.parametrize(
    "argv",
    [
        ["-v", "--config", "c.toml", "groups"],
        ["groups", "-v", "--config", "c.toml"],
        ["-v", "groups", "--config", "c.toml"],
        ["--config", "c.toml", "groups", "--verbose"],
    ],
)
def test_global_options_are_taken_before_or_after_the_command(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert (args.command, args.verbose, args.config) == ("groups", True, "c.toml")


def test_without_global_options_they_have_their_defaults() -> None:
    args = build_parser().parse_args(["groups"])
    assert (args.verbose, args.config) == (False, None)


def test_a_config_after_the_command_wins_over_one_before() -> None:
    args = build_parser().parse_args(["--config", "a.toml", "push", "--config", "b.toml"])
    assert args.config == "b.toml"


@pytest.mark.parametrize("operation", ["forget", "prune", "check", "stats", "snapshots"])
def test_delete_takes_every_operation_reported_as_a_group_of_its_own(operation: str) -> None:
    args = build_parser().parse_args(
        ["delete", "--location", "repo", "--backend", "b2", "--operation", operation]
    )
    assert args.operation == operation
