"""Shared test fixtures: sample logs, real binaries, a clean environment."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

FIXTURES = Path(__file__).parent / "fixtures"
SAMPLES = FIXTURES / "samples"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# How many examples a property test tries when it does not say: few in the fast loop
# (``pytest tests/unit``), many in the full run (tests/run.sh passes
# ``--hypothesis-profile=thorough``, which is what CI runs).
settings.register_profile("fast", max_examples=50)
settings.register_profile("thorough", max_examples=150)
settings.load_profile("fast")


def require_binary(name: str) -> str:
    """The path of a real program the test needs.

    Locally a missing program skips the test; with CI=true it fails it, so that a
    missing install step can never pass as green.
    """
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (bash tests/run.sh installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def manifest() -> list[dict[str, Any]]:
    """The samples' manifest: file, version, exit_code, expected values."""
    entries: list[dict[str, Any]] = json.loads((SAMPLES / "manifest.json").read_text())
    return entries


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the caller's PUSHRESTIC_*, AUTORESTIC_* and RESTIC_* variables out of tests."""
    for key in list(os.environ):
        if key.startswith(("PUSHRESTIC_", "AUTORESTIC_", "RESTIC_")):
            monkeypatch.delenv(key)


def pytest_configure(config: pytest.Config) -> None:
    """A test run started in the background (``cmd &`` without job control, nohup)
    inherits SIGINT ignored, and so would every process the tests start: the tests
    of Ctrl-C and of SIGINT forwarding need it as a terminal delivers it."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
