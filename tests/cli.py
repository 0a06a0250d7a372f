"""Running pushrestic's command line in the tests: one way, one result type.

Every test that runs ``python -m pushrestic`` to its end goes through :func:`pushrestic`
(or :func:`start` and :meth:`Running.finish`, for several at once) and gets a :class:`Ran`.
The child gets this interpreter, the test's environment without ``PUSHRESTIC_*`` (so a
developer's own settings never leak in) plus what the test adds, stdin closed unless
the test gives input, and a bound on time: a pushrestic that hangs fails its test with
what it printed, never the suite. A traceback on stderr fails the test too: bad input
gets a one-line error, never a traceback.

Tests of terminals and signals start their processes themselves (they need a pty or
the process while it runs) and take :func:`argv` and :func:`environment` from here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from prometheus_client.parser import text_string_to_metric_families

TIMEOUT = 60.0
"""How long any one pushrestic run may take in a test, however loaded the machine."""

OWN_VARIABLES = ("PUSHRESTIC_",)

SeriesKey = tuple[str, frozenset[tuple[str, str]]]


def argv(*args: str) -> list[str]:
    """``python -m pushrestic ARGS`` with this interpreter."""
    return [sys.executable, "-m", "pushrestic", *args]


def environment(
    env: Mapping[str, str] | None = None, *, without: Sequence[str] = OWN_VARIABLES
) -> dict[str, str]:
    """This process's environment less the variables that start with one of ``without``,
    then ``env`` on top."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(tuple(without))}
    return {**kept, **(env or {})}


def _text(data: bytes | None) -> str:
    # surrogateescape: bytes that are not UTF-8 survive, and stdout_bytes gives them back.
    return (data or b"").decode("utf-8", "surrogateescape")


@dataclass(frozen=True, slots=True)
class Ran:
    """One pushrestic process, run to its end."""

    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str
    elapsed: float
    """Seconds from start to end, measured by the test."""

    def __str__(self) -> str:
        return (
            f"pushrestic {' '.join(self.args)} -> {self.code} after {self.elapsed:.1f} s\n"
            f"stdout:\n{self.stdout}\nstderr:\n{self.stderr}"
        )

    @property
    def stdout_bytes(self) -> bytes:
        """stdout exactly as written."""
        return self.stdout.encode("utf-8", "surrogateescape")

    def error_lines(self) -> list[str]:
        """The ``pushrestic: error: ...`` lines on stderr."""
        return [line for line in self.stderr.splitlines() if line.startswith("pushrestic: error:")]

    def series(self) -> dict[SeriesKey, float]:
        """{(name, labels): value} of the exposition text on stdout (``--dry-run``)."""
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(self.stdout)
            for sample in family.samples
        }

    def names(self) -> set[str]:
        """The names of the samples on stdout."""
        return {name for name, _ in self.series()}

    def value(self, name: str, **labels: str) -> float:
        """The value of the one sample on stdout named ``name`` whose labels include ``labels``."""
        matches = [
            value
            for (found, found_labels), value in self.series().items()
            if found == name and set(labels.items()) <= found_labels
        ]
        assert len(matches) == 1, f"{name} {labels}: {matches}\n{self.stdout}"
        return matches[0]


@dataclass(slots=True)
class Running:
    """A pushrestic process started by :func:`start`."""

    process: subprocess.Popen[bytes]
    args: tuple[str, ...]
    started: float

    def finish(self, *, timeout: float = TIMEOUT, input: bytes | None = None) -> Ran:
        """Wait for the end (at most ``timeout`` s, then kill it and fail the test)."""
        try:
            stdout, stderr = self.process.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, stderr = self.process.communicate()
            raise AssertionError(
                f"pushrestic {' '.join(self.args)} did not end within {timeout} s:\n{_text(stderr)}"
            ) from None
        ran = Ran(
            self.args, self.process.returncode, _text(stdout), _text(stderr),
            time.monotonic() - self.started,
        )  # fmt: skip
        assert "Traceback" not in ran.stderr, str(ran)
        return ran


def start(
    *args: str,
    env: Mapping[str, str] | None = None,
    without: Sequence[str] = OWN_VARIABLES,
    stdin: int | IO[bytes] | None = subprocess.DEVNULL,
    stdout: int | IO[bytes] | None = subprocess.PIPE,
    cwd: Path | None = None,
) -> Running:
    """Start ``python -m pushrestic ARGS``; stderr is captured, stdout too unless redirected."""
    process = subprocess.Popen(
        argv(*args),
        env=environment(env, without=without),
        stdin=stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        cwd=cwd,
    )
    return Running(process, args, time.monotonic())


def pushrestic(
    *args: str,
    input: bytes | str | None = None,
    stdin: int | IO[bytes] | None = subprocess.DEVNULL,
    stdout: int | IO[bytes] | None = subprocess.PIPE,
    env: Mapping[str, str] | None = None,
    without: Sequence[str] = OWN_VARIABLES,
    cwd: Path | None = None,
    timeout: float = TIMEOUT,
) -> Ran:
    """Run ``python -m pushrestic ARGS`` to its end: with ``input`` on stdin if given
    (else ``stdin``: closed by default), in the environment described at the top."""
    data = input.encode() if isinstance(input, str) else input
    running = start(
        *args,
        env=env,
        without=without,
        stdin=subprocess.PIPE if data is not None else stdin,
        stdout=stdout,
        cwd=cwd,
    )
    return running.finish(timeout=timeout, input=data)
