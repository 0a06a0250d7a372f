"""promtool's linter accepts every dry run: of each log the integration scenarios
produce and of each sample in tests/fixtures/samples.

Each dry run is a pushrestic process and a promtool process; they run a few at a
time (threads waiting on subprocesses) to keep the suite quick.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import SAMPLES, require_binary
from tests.integration.conftest import SCENARIOS, PushResult, push_dry_run, scenario_logs

pytestmark = pytest.mark.integration

# pushrestic's exit codes when it printed a report: 0, or 65 for an input that is
# not restic output (reported as a failed run).
REPORTED = (0, 65)
NOT_LOGS = ("README.md", "manifest.json")
SAMPLE_FILES = sorted(p.name for p in SAMPLES.iterdir() if p.is_file() and p.name not in NOT_LOGS)
WORKERS = 2 * (os.cpu_count() or 1)


@dataclass(frozen=True, slots=True)
class Lint:
    """One dry run and what ``promtool check metrics`` said about it."""

    what: str
    push: PushResult
    promtool_exit: int
    complaints: str


def lint(log: Path, *args: str) -> Lint:
    promtool = require_binary("promtool")
    push = push_dry_run(log, *args)
    check = subprocess.run(
        [promtool, "check", "metrics"],
        input=push.stdout,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    what = " ".join((log.name, *args))
    return Lint(what, push, check.returncode, (check.stdout + check.stderr).strip())


def lint_all(runs: Iterable[tuple[Path, tuple[str, ...]]]) -> list[Lint]:
    require_binary("promtool")
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(lambda run: lint(run[0], *run[1]), runs))


def assert_clean(result: Lint) -> None:
    assert result.push.exit_code in REPORTED, f"{result.what}: {result.push.stderr}"
    assert result.push.stdout, f"{result.what}: no metrics"
    assert result.promtool_exit == 0, f"{result.what}: {result.complaints}"
    assert result.complaints == "", f"{result.what}: {result.complaints}"


@pytest.fixture(scope="module")
def sample_lints() -> dict[str, Lint]:
    """Every sample's dry run, linted."""
    results = lint_all((SAMPLES / name, ()) for name in SAMPLE_FILES)
    return dict(zip(SAMPLE_FILES, results, strict=True))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_promtool_accepts_the_dry_run_of_every_real_restic_log(
    request: pytest.FixtureRequest, scenario: str
) -> None:
    logs = scenario_logs(request, scenario).values()
    assert logs
    # Bare, and for a failure with restic's real exit code given, which adds its series.
    runs: list[tuple[Path, tuple[str, ...]]] = [(log.path, ()) for log in logs]
    runs += [(log.path, ("--exit-code", str(log.exit_code))) for log in logs if log.exit_code]
    for result in lint_all(runs):
        assert_clean(result)


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_promtool_accepts_the_dry_run_of_every_sample(
    sample_lints: dict[str, Lint], name: str
) -> None:
    result = sample_lints[name]
    if "nothing to report" in result.push.stderr:  # restic init, unlock, version: no report
        assert (result.push.exit_code, result.push.stdout) == (0, "")
        result = lint(SAMPLES / name, "--exit-code", "1")  # reported as that command's failure
    assert_clean(result)
