"""From an input to runs: read, parse, resolve each group's outcome.

A bad input never loses what is known: when the input cannot be read or is not
restic's or autorestic's output, the run is still returned, as failed, together
with the problem, for the CLI to report and map to its exit code. Output of a
restic command that has no report (init, unlock, version) gives no run, unless
its exit code says it failed (see not_reported).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from pushrestic.errors import InputError, NothingToReport, UsageError
from pushrestic.model import GroupOutput, ResticOutput, Run
from pushrestic.outcome import build_run, failed_run
from pushrestic.parsers import parse_groups
from pushrestic.sources.stream import LineReader, input_mtime, open_input

if TYPE_CHECKING:
    from pushrestic.sources.command import Wrapped

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


def collect_runs(spec: InputSpec, *, now: float | None = None) -> Collected:
    """Read and parse ``spec.path``; one Run per (location, backend) the input shows.

    A run ends when restic's summary says, else when the log was last written,
    else ``now``; a time in the future is not trusted (see outcome.build_run).

    ``location``/``backend`` name a plain restic log's group and select one group
    of an autorestic log. Raises UsageError when they select nothing.
    """
    now = time.time() if now is None else now
    try:
        groups, source = _parse(spec)
    except NothingToReport as notice:
        failed = not_reported(notice, spec.exit_code, spec.location, spec.backend, ended_at=now)
        return Collected(tuple(failed), notice)
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
            ended_from=f"the modification time of {source}",
            now=now,
        )
        for group in groups
        if _selected(group, spec.location, spec.backend)
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


def not_reported(
    notice: NothingToReport,
    exit_code: int | None,
    location: str | None,
    backend: str | None,
    *,
    ended_at: float | None,
) -> list[Run]:
    """The runs for output of restic commands without a report: none, unless
    ``exit_code`` (non-zero) says the command failed; then one failed run."""
    if not exit_code:
        return []
    command = "restic " + " and ".join(notice.commands)
    return [
        failed_run(location, backend, f"{command} failed", exit_code=exit_code, ended_at=ended_at)
    ]


def _selected(group: GroupOutput, location: str | None, backend: str | None) -> bool:
    """Whether the caller's --location/--backend pick this group (unnamed groups always)."""
    if location is not None and group.location not in (None, location):
        return False
    return backend is None or group.backend in (None, backend)


def runs_of_command(
    wrapped: Wrapped, *, location: str | None = None, backend: str | None = None
) -> tuple[list[Run], InputError | None]:
    """The runs of a wrapped command (``pushrestic run``): its own exit code for a
    restic run, autorestic's per-backend codes for an autorestic run."""
    if wrapped.start_error is None and isinstance(wrapped.parse_error, NothingToReport):
        runs = not_reported(
            wrapped.parse_error, wrapped.exit_code, location, backend, ended_at=wrapped.ended_at
        )
        return [replace(run, wall_seconds=wrapped.duration_seconds) for run in runs], (
            wrapped.parse_error
        )
    if wrapped.start_error is not None or wrapped.parse_error is not None:
        reason = wrapped.start_error or f"unreadable output: {wrapped.parse_error}"
        run = failed_run(
            location, backend, reason, exit_code=wrapped.exit_code, ended_at=wrapped.ended_at
        )
        return [replace(run, wall_seconds=wrapped.duration_seconds)], wrapped.parse_error
    groups = list(wrapped.groups) or [GroupOutput(None, None, ResticOutput())]
    runs = [
        replace(
            build_run(
                group,
                given_exit_code=wrapped.exit_code if group.location is None else None,
                location=location,
                backend=backend,
                ended_at=wrapped.ended_at,
                ended_from="the clock when the command ended",
            ),
            wall_seconds=wrapped.duration_seconds if group.location is None else None,
        )
        for group in groups
        if _selected(group, location, backend)
    ]
    if wrapped.interrupted_by is not None:
        log.warning("the command was interrupted by signal %d", wrapped.interrupted_by)
    return runs, None


def runs_of_hook(
    environ: Mapping[str, str],
    *,
    exit_code: int | None = None,
    location: str | None = None,
    backend: str | None = None,
    now: float | None = None,
) -> tuple[list[Run], InputError | None]:
    """The runs of one autorestic location, from its hook's environment."""
    from pushrestic.parsers.hookenv import parse_hook_environment

    now = time.time() if now is None else now
    try:
        _, groups = parse_hook_environment(environ)
    except InputError as error:
        return [failed_run(location, backend, str(error), exit_code=exit_code, ended_at=now)], error
    if not groups:
        empty = InputError(
            "the hook environment names no backend (a before/prevalidate hook?)",
            source="autorestic hook environment",
        )
        return [failed_run(location, backend, str(empty), exit_code=exit_code, ended_at=now)], empty
    runs = [
        build_run(
            group,
            given_exit_code=exit_code if group.exit_code is None else None,
            ended_at=now,
            now=now,
        )
        for group in groups
        if _selected(group, location, backend)
    ]
    return runs, None


def runs_of_journal(
    unit: str,
    environ: Mapping[str, str],
    *,
    directory: str | None = None,
    files: Sequence[str] = (),
    exit_code: int | None = None,
    location: str | None = None,
    backend: str | None = None,
    now: float | None = None,
) -> tuple[list[Run], InputError | None]:
    """The run of a systemd unit's latest invocation, from its journal.

    The exit code: ``exit_code`` if given, else ``$EXIT_STATUS`` (inside
    ``ExecStopPost=``), else what the journal says of the main process.
    """
    from pushrestic.model import StepTiming
    from pushrestic.sources.journalctl import outcome_from_environment, read_unit_journal

    now = time.time() if now is None else now
    _, environment_code = outcome_from_environment(environ)
    try:
        journal = read_unit_journal(unit, directory=directory, files=files)
        code = exit_code if exit_code is not None else environment_code
        if code is None:
            code = journal.exit_code
        try:
            groups = parse_groups(iter(journal.lines), source=f"journal of {unit}")
        except NothingToReport as notice:
            return not_reported(notice, code, location, backend, ended_at=now), notice
        except InputError:
            if code != 0:
                raise
            groups = [GroupOutput(None, None, ResticOutput())]  # restic --quiet: no output
    except InputError as error:
        code = exit_code if exit_code is not None else environment_code
        return [failed_run(location, backend, str(error), exit_code=code, ended_at=now)], error
    steps = tuple(
        StepTiming(unit, step.name, step.command, max(0.0, step.ended_at - step.started_at))
        for step in journal.steps
    )
    ended = max((step.ended_at for step in journal.steps), default=now)
    runs = [
        replace(
            build_run(
                group,
                given_exit_code=code if group.location is None else None,
                location=location,
                backend=backend,
                ended_at=ended,
                ended_from=f"the journal of {unit}",
                now=now,
            ),
            steps=steps,
        )
        for group in groups
        if _selected(group, location, backend)
    ]
    return runs, None
