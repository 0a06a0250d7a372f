"""From an input to runs: read, parse, resolve each group's outcome.

A bad input never loses what is known: when the input cannot be read or is not
restic's or autorestic's output, the run is still returned, as failed, together
with the problem, for the CLI to report and map to its exit code.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from pushrestic.errors import InputError, UsageError
from pushrestic.inputs import LineReader, input_mtime, open_input
from pushrestic.model import GroupOutput, ResticOutput, Run
from pushrestic.outcome import build_run, failed_run
from pushrestic.parsers import parse_groups

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Collected:
    """The runs to report and, if the input was bad, why (the runs then say 'failed')."""

    runs: tuple[Run, ...]
    problem: InputError | None = None


@dataclass(frozen=True, slots=True)
class InputSpec:
    """Which input to read and what the caller knows about the run."""

    path: str = "-"
    fmt: str = "auto"
    exit_code: int | None = None
    location: str | None = None
    backend: str | None = None
    labels: dict[str, str] = field(default_factory=dict)


def collect_runs(spec: InputSpec, *, now: float | None = None) -> Collected:
    """Read and parse ``spec.path``; one Run per (location, backend) the input shows.

    ``location``/``backend`` name a plain restic log's group and select one group
    of an autorestic log. Raises UsageError when they select nothing.
    """
    now = time.time() if now is None else now
    try:
        groups, source = _parse(spec)
    except InputError as error:
        run = failed_run(
            spec.location,
            spec.backend,
            f"unreadable input: {error.reason}",
            exit_code=spec.exit_code,
            ended_at=now,
        )
        return Collected((run,), error)
    ended_at = input_mtime(spec.path) or now
    runs = tuple(
        build_run(
            group,
            given_exit_code=spec.exit_code if group.location is None else None,
            location=spec.location,
            backend=spec.backend,
            ended_at=ended_at,
        )
        for group in groups
        if _selected(group, spec)
    )
    if not runs:
        raise UsageError(
            f"{source}: no run for location {spec.location!r} and backend {spec.backend!r}"
        )
    for run in runs:
        log.info(
            "%s/%s: exit code %s (%s)%s",
            run.location,
            run.backend,
            run.outcome.exit_code,
            run.outcome.source.value,
            f": {run.outcome.reason}" if run.outcome.reason else "",
        )
    return Collected(runs)


def _parse(spec: InputSpec) -> tuple[list[GroupOutput], str]:
    stream, source = open_input(spec.path)
    with stream:
        reader = LineReader(stream, source)
        try:
            return parse_groups(reader, fmt=spec.fmt, source=source), source
        except InputError:
            if reader.empty and spec.exit_code == 0:
                # restic --quiet prints nothing on success: the exit code is all there is.
                return [GroupOutput(None, None, ResticOutput())], source
            raise


def _selected(group: GroupOutput, spec: InputSpec) -> bool:
    if spec.location is not None and group.location not in (None, spec.location):
        return False
    return spec.backend is None or group.backend in (None, spec.backend)
