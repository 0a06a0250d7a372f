"""Every example in examples/ is checked: systemd units verify, commands parse, hooks report."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from pushrestic.cli import build_parser
from tests import cli
from tests.conftest import SAMPLES, manifest, require_binary
from tests.integration.servers import started_pushgateway

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples"
#: Where the README's system-wide install puts the command (PIPX_BIN_DIR).
INSTALLED = "/usr/local/bin/pushrestic"


def pushrestic_arguments(command: str) -> list[str]:
    """The arguments after ``pushrestic`` in a shell command line."""
    words = shlex.split(command)
    index = next(i for i, word in enumerate(words) if word.endswith("pushrestic"))
    return words[index + 1 :]


def assert_pushrestic_accepts(command: str) -> None:
    arguments = pushrestic_arguments(command.replace("%n", "restic-backup.service"))
    parsed = build_parser().parse_args(arguments)
    assert parsed.command in ("push", "run", "hook", "journal")
    if parsed.command == "run":
        wrapped = parsed.argv[1:] if parsed.argv[:1] == ["--"] else parsed.argv
        assert wrapped, "run wraps a command"
        assert Path(wrapped[0]).name in ("restic", "autorestic"), wrapped


def unit_commands(path: Path) -> dict[str, str]:
    commands = {}
    for line in path.read_text().splitlines():
        key, separator, value = line.partition("=")
        if separator and key.startswith("Exec"):
            commands[key] = value.lstrip("-")
    return commands


@pytest.mark.parametrize(
    "unit", sorted((EXAMPLES / "systemd").glob("*.service")), ids=lambda p: p.name
)
def test_systemd_units_call_the_installed_command_and_report_failures_too(unit: Path) -> None:
    # systemd-analyze verify runs on these files, unmodified, after the README's
    # system-wide install: tests/end_to_end/test_install.py.
    commands = unit_commands(unit)
    reporters = [c for c in commands.values() if "pushrestic" in c]
    assert reporters, "every unit reports"
    for command in reporters:
        assert shlex.split(command)[0] == INSTALLED, "where the README's install puts it"
        assert_pushrestic_accepts(command)
    # A failed backup must be reported: never only from ExecStartPost=, which systemd skips.
    assert "ExecStartPost" not in {k for k, v in commands.items() if "pushrestic" in v}


def test_the_cron_line_is_well_formed_and_its_command_parses() -> None:
    lines = [
        line
        for line in (EXAMPLES / "cron" / "restic-backup.cron").read_text().splitlines()
        if line and not line.startswith("#") and "=" not in line.split()[0]
    ]
    (line,) = lines
    fields = line.split(None, 6)
    assert len(fields) == 7, "five time fields, a user, a command"
    assert fields[5] == "root"
    assert_pushrestic_accepts(fields[6].split("&&", 1)[1])


# The restic commands of examples/cron/restic-repository.cron, and a sample of what each prints.
REPOSITORY_SAMPLES = {
    "restic snapshots --json --latest 1": "restic-0.14-snapshots-json-latest.json",
    "restic stats --json": "restic-0.14-stats-json.json",
    "restic stats --json --mode raw-data": "restic-0.14-stats-rawdata-json.json",
}


def cron_jobs(path: Path) -> list[tuple[str, str]]:
    """(schedule and user, command) of each job line of a cron.d file."""
    jobs = []
    for line in path.read_text().splitlines():
        if not line or line.startswith("#") or "=" in line.split()[0]:
            continue
        fields = line.split(None, 6)
        assert len(fields) == 7, "five time fields, a user, a command"
        assert fields[5] == "root"
        jobs.append((" ".join(fields[:6]), fields[6]))
    return jobs


@pytest.mark.parametrize(
    ("restic", "operation"),
    [("restic snapshots --json --latest 1", "snapshots"), ("restic stats --json", "stats")],
)
def test_the_repository_cron_jobs_pipe_restic_into_pushrestic_push_and_report_it(
    restic: str, operation: str, tmp_path: Path
) -> None:
    """Each job's pipeline, run with each restic command replaced by its sample output
    and pushrestic by ``python -m pushrestic --dry-run``, reports its own group."""
    jobs = cron_jobs(EXAMPLES / "cron" / "restic-repository.cron")
    assert len(jobs) == 2
    (command,) = [command for _, command in jobs if restic in command]
    setup, separator, pipeline = command.partition(" && ")
    assert (setup, separator) == (". /etc/restic/env", " && ")
    producer, pipe, consumer = pipeline.rpartition(" | ")
    assert pipe, "restic's output is piped"
    assert_pushrestic_accepts(consumer)
    arguments = build_parser().parse_args(pushrestic_arguments(consumer))
    assert (arguments.command, arguments.log, arguments.location) == ("push", "-", "repo")
    for original, sample in sorted(REPOSITORY_SAMPLES.items(), key=lambda item: -len(item[0])):
        producer = producer.replace(original, f"cat {shlex.quote(str(SAMPLES / sample))}")
    assert "restic " not in producer, f"a restic command without a sample: {producer}"
    runnable = f"{producer} | {shlex.quote(sys.executable)} -m {consumer} --dry-run"
    env = cli.environment({"PUSHRESTIC_SPOOL_DIR": str(tmp_path / "spool")})
    done = subprocess.run(
        ["sh", "-c", runnable], capture_output=True, text=True, timeout=60, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    assert f'location="repo",operation="{operation}"' in done.stdout
    if operation == "stats":  # both modes, in one push
        assert 'mode="restore-size"' in done.stdout
        assert 'mode="raw-data"' in done.stdout


@pytest.mark.parametrize("name", ["gitlab-ci.yml", "github-actions.yml"])
def test_ci_snippets_are_valid_yaml_and_their_commands_parse(name: str) -> None:
    document = yaml.safe_load((EXAMPLES / "ci" / name).read_text())
    commands: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str) and node.lstrip().startswith("pushrestic "):
            commands.append(node)

    walk(document)
    assert commands, "the snippet runs pushrestic"
    for command in commands:
        assert_pushrestic_accepts(command)
        assert "PASSWORD" not in command.split("--", 1)[0], "no secret on the command line"


def ci_steps(document: Any) -> list[Any]:
    if "jobs" in document:  # GitHub Actions
        (job,) = document["jobs"].values()
        steps: list[Any] = job["steps"]
        return steps
    (job,) = document.values()  # GitLab CI
    return [{"run": line} for line in job["script"]]


@pytest.mark.parametrize("name", ["gitlab-ci.yml", "github-actions.yml"])
def test_ci_snippets_install_pushrestic_from_its_checkout_not_from_an_index(name: str) -> None:
    source = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Source"]
    steps = ci_steps(yaml.safe_load((EXAMPLES / "ci" / name).read_text()))
    shell = [line for step in steps for line in str(step.get("run", "")).splitlines()]
    assert not [line for line in shell if "pip install" in line.replace("pipx install", "")]
    assert not [line for line in shell if "--break-system-packages" in line]
    # The checkout: actions/checkout of pushrestic's repository, or git clone of it.
    checkouts = {
        step["with"]["path"]
        for step in steps
        if str(step.get("uses", "")).startswith("actions/checkout@")
        and f"https://github.com/{step.get('with', {}).get('repository')}" == source
    }
    for line in shell:
        for command in line.split("&&"):
            words = shlex.split(command)
            if words[:2] == ["git", "clone"]:
                assert words[-2] in (source, f"{source}.git"), command
                checkouts.add(words[-1])
    (checkout,) = checkouts
    installs = [
        shlex.split(command)
        for line in shell
        for command in line.split("&&")
        if "pipx install" in command
    ]
    (install,) = installs
    assert install[-3:-1] == ["pipx", "install"], install
    assert Path(install[-1]) == Path(checkout), "pipx installs the checkout"
    if name == "gitlab-ci.yml":  # a bare Debian image: the README's system-wide install
        assert install[:2] == ["PIPX_HOME=/opt/pipx", "PIPX_BIN_DIR=/usr/local/bin"]


def containerfile() -> list[tuple[str, str]]:
    """The Containerfile's instructions, as (INSTRUCTION, arguments), continuations joined."""
    text = (EXAMPLES / "container" / "Containerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = "\n".join(lines).replace("\\\n", " ")
    instructions = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, arguments = line.strip().partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def test_the_containerfile_installs_the_copied_checkout_the_way_the_readme_does() -> None:
    instructions = containerfile()
    assert instructions[0] == ("FROM", "debian:bookworm-slim")
    (copy,) = [arguments.split() for keyword, arguments in instructions if keyword == "COPY"]
    assert copy[0] == ".", "the build context is the checkout"
    runs = [arguments for keyword, arguments in instructions if keyword == "RUN"]
    assert any("apt-get install" in run and "pipx" in run and "restic" in run for run in runs)
    readme = (ROOT / "README.md").read_text()
    pattern = r"^sudo (PIPX_HOME=\S+ PIPX_BIN_DIR=\S+ pipx install) \.$"
    system_wide = re.search(pattern, readme, re.M)
    assert system_wide is not None, "the README's system-wide install"
    assert f"{system_wide.group(1)} {copy[1]}" in runs
    assert "pip install" not in " ".join(runs).replace("pipx install", "")


def test_the_containers_command_backs_up_its_workdir_and_reports_it(tmp_path: Path) -> None:
    """The image's ENTRYPOINT and CMD, as they are, run by the installed pushrestic with
    real restic, in a directory standing for the container's WORKDIR volume."""
    restic = require_binary("restic")
    installed = shutil.which("pushrestic")
    assert installed is not None, "the package is installed (bash tests/run.sh)"
    instructions = dict(containerfile())
    assert instructions["WORKDIR"] == "/data"
    argv = json.loads(instructions["ENTRYPOINT"]) + json.loads(instructions["CMD"])
    assert argv[0] == "pushrestic"
    assert_pushrestic_accepts(shlex.join(argv))
    data = tmp_path / "data"
    (data / "docs").mkdir(parents=True)
    (data / "docs" / "a.txt").write_text("backed up\n")
    base = cli.environment(without=("PUSHRESTIC_", "RESTIC_"))
    restic_environment = {
        **base,
        "RESTIC_REPOSITORY": str(tmp_path / "repository"),
        "RESTIC_PASSWORD": "container example",
        "RESTIC_CACHE_DIR": str(tmp_path / "cache"),
    }
    subprocess.run(
        [restic, "init"], env=restic_environment, capture_output=True, timeout=120, check=True
    )
    with started_pushgateway(tmp_path / "gateway") as gateway:
        done = subprocess.run(
            [installed, *argv[1:]],
            cwd=data,
            env={
                **restic_environment,
                "PUSHRESTIC_GATEWAY": gateway.url,
                "PUSHRESTIC_INSTANCE": "container-host",
                "PUSHRESTIC_SPOOL_DIR": str(tmp_path / "spool"),
            },
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "snapshot" in done.stdout, "restic's output passes through"
        pushed = gateway.pushed()
    assert pushed.value("restic_backup_success", location="data") == 1
    assert pushed.value("restic_backup_files", location="data", state="new") == 1


def test_the_autorestic_hooks_report_every_backend_to_a_real_gateway(tmp_path: Path) -> None:
    config = yaml.safe_load((EXAMPLES / "autorestic" / ".autorestic.yml").read_text())
    assert config["version"] == 2
    hooks = config["locations"]["documents"]["hooks"]
    assert set(hooks) >= {"success", "failure"}
    (entry,) = [e for e in manifest() if "expected_hook_env" in e]
    hook_environment: dict[str, str] = entry["expected_hook_env"]["documents"]
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "pushrestic").write_text(f'#!/bin/sh\nexec {shlex.join(cli.argv())} "$@"\n')
    (shim / "pushrestic").chmod(0o755)
    with started_pushgateway(tmp_path / "gateway") as gateway:
        base = cli.environment(without=("PUSHRESTIC_", "AUTORESTIC_"))
        environment = {
            **base,
            **hook_environment,
            "PATH": f"{shim}:{base.get('PATH', '')}",
            "PUSHRESTIC_GATEWAY": gateway.url,
            "PUSHRESTIC_INSTANCE": "backuphost",
            "PUSHRESTIC_SPOOL_DIR": str(tmp_path / "spool"),
        }
        for command in hooks["success"]:
            done = subprocess.run(
                ["bash", "-c", command],
                env=environment,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert done.returncode == 0, done.stderr
        groups = {(g["location"], g["backend"]) for g in gateway.group_labels()}
    assert groups == {("documents", "local"), ("documents", "usb")}
