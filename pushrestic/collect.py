"""From an input to runs: read, parse, resolve each group's outcome.

Four inputs, one result: :func:`collect_runs` (a log file or stdin),
:func:`runs_of_command` (a wrapped command), :func:`runs_of_hook` (autorestic's
hook environment) and :func:`runs_of_journal` (a systemd unit's journal) each
return :class:`Collected`, and build their runs through one step that applies
``--location``/``--backend`` and raises UsageError when they select nothing.

A bad input never loses what is known: when the input cannot be read or is not
restic's or autorestic's output, the run is still returned, as failed, together
with the problem, for the CLI to report and map to its exit code. Output of a
restic command that has no report (init, unlock, version) gives no run, unless
its exit code says it failed (see not_reported).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, NamedTuple

from pushrestic.errors import InputError, NothingToReport, UsageError
from pushrestic.model import GroupOutput, ResticOutput, Run
from pushrestic.outcome import build_run, failed_run
from pushrestic.parsers import parse_groups
from pushrestic.sources.stream import LineReader, input_mtime, open_input

if TYPE_CHECKING:
    from pushrestic.sources.command import Wrapped

log = logging.getLogger(__name__)


class Collected(NamedTuple):
    """The runs to report and, if the input was bad, why (the runs then say 'failed').

    No run and a :class:`NothingToReport` problem: output of a restic command
    without a report, which succeeded.
    """

    runs: list[Run]
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
        return Collected(failed, notice)
    except InputError as error:
        reason = f"unreadable input: {error.reason}"
        return _failed(
            spec.location,
            spec.backend,
            reason,
            exit_code=spec.exit_code,
            ended_at=now,
            problem=error,
        )
    runs = _runs(
        groups,
        spec.location,
        spec.backend,
        given=lambda group: spec.exit_code if group.location is None else None,
        ended_at=input_mtime(spec.path) or now,
        ended_from=f"the modification time of {source}",
        now=now,
        source=source,
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


def runs_of_command(
    wrapped: Wrapped, *, location: str | None = None, backend: str | None = None
) -> Collected:
    """The runs of a wrapped command (``pushrestic run``): its own exit code for a
    restic run, autorestic's per-backend codes for an autorestic run."""
    ended = wrapped.ended_at
    if wrapped.start_error is None and isinstance(wrapped.parse_error, NothingToReport):
        runs = not_reported(
            wrapped.parse_error, wrapped.exit_code, location, backend, ended_at=ended
        )
        return Collected(_timed(runs, wrapped.duration_seconds), wrapped.parse_error)
    if wrapped.start_error is not None or wrapped.parse_error is not None:
        reason = wrapped.start_error or f"unreadable output: {wrapped.parse_error}"
        failed = _failed(
            location,
            backend,
            reason,
            exit_code=wrapped.exit_code,
            ended_at=ended,
            problem=wrapped.parse_error,
        )
        return Collected(_timed(failed.runs, wrapped.duration_seconds), failed.problem)
    runs = _runs(
        list(wrapped.groups) or [GroupOutput(None, None, ResticOutput())],
        location,
        backend,
        given=lambda group: wrapped.exit_code if group.location is None else None,
        ended_at=ended,
        ended_from="the clock when the command ended",
        source="the command's output",
        finish=lambda group, run: (
            replace(run, wall_seconds=wrapped.duration_seconds) if group.location is None else run
        ),
    )
    if wrapped.interrupted_by is not None:
        log.warning("the command was interrupted by signal %d", wrapped.interrupted_by)
    return Collected(runs)


def runs_of_hook(
    environ: Mapping[str, str],
    *,
    exit_code: int | None = None,
    location: str | None = None,
    backend: str | None = None,
    now: float | None = None,
) -> Collected:
    """The runs of one autorestic location, from its hook's environment."""
    from pushrestic.parsers.hookenv import parse_hook_environment

    now = time.time() if now is None else now
    try:
        _, groups = parse_hook_environment(environ)
        if not groups:
            raise InputError(
                "the hook environment names no backend (a before/prevalidate hook?)",
                source="autorestic hook environment",
            )
    except InputError as error:
        return _failed(
            location, backend, str(error), exit_code=exit_code, ended_at=now, problem=error
        )
    runs = _runs(
        groups,
        location,
        backend,
        given=lambda group: exit_code if group.exit_code is None else None,
        ended_at=now,
        ended_from="the clock when the hook ran",
        now=now,
        source="autorestic hook environment",
    )
    return Collected(runs)


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
) -> Collected:
    """The run of a systemd unit's latest invocation, from its journal.

    The exit code: ``exit_code`` if given, else ``$EXIT_STATUS`` (inside
    ``ExecStopPost=``), else what the journal says of the main process.
    """
    from pushrestic.model import StepTiming
    from pushrestic.sources.journalctl import outcome_from_environment, read_unit_journal

    now = time.time() if now is None else now
    try:
        _, environment_code = outcome_from_environment(environ)
    except InputError as error:
        return _failed(
            location, backend, str(error), exit_code=exit_code, ended_at=now, problem=error
        )
    try:
        journal = read_unit_journal(unit, directory=directory, files=files)
        code = exit_code if exit_code is not None else environment_code
        if code is None:
            code = journal.exit_code
        try:
            groups = parse_groups(iter(journal.lines), source=f"journal of {unit}")
        except NothingToReport as notice:
            return Collected(not_reported(notice, code, location, backend, ended_at=now), notice)
        except InputError:
            if code != 0:
                raise
            groups = [GroupOutput(None, None, ResticOutput())]  # restic --quiet: no output
    except InputError as error:
        code = exit_code if exit_code is not None else environment_code
        return _failed(location, backend, str(error), exit_code=code, ended_at=now, problem=error)
    steps = tuple(
        StepTiming(unit, step.name, step.command, max(0.0, step.ended_at - step.started_at))
        for step in journal.steps
    )
    runs = _runs(
        groups,
        location,
        backend,
        given=lambda group: code if group.location is None else None,
        ended_at=max((step.ended_at for step in journal.steps), default=now),
        ended_from=f"the journal of {unit}",
        now=now,
        source=f"journal of {unit}",
        finish=lambda _, run: replace(run, steps=steps),
    )
    return Collected(runs)


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


# -- the steps every input shares ----------------------------------------------


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


def _runs(
    groups: Iterable[GroupOutput],
    location: str | None,
    backend: str | None,
    *,
    given: Callable[[GroupOutput], int | None],
    ended_at: float | None,
    ended_from: str,
    source: str,
    now: float | None = None,
    finish: Callable[[GroupOutput, Run], Run] = lambda _, run: run,
) -> list[Run]:
    """The runs of the groups that ``location``/``backend`` select (unnamed groups
    always, named after them), ``given(group)`` being the exit code the caller
    knows for a group and ``finish`` what the input adds to a group's run (the
    command's duration, the unit's steps). Raises UsageError when the selection
    leaves nothing."""
    runs = [
        finish(
            group,
            build_run(
                group,
                given_exit_code=given(group),
                location=location,
                backend=backend,
                ended_at=ended_at,
                ended_from=ended_from,
                now=now,
            ),
        )
        for group in groups
        if _selected(group, location, backend)
    ]
    if not runs:
        chosen = {"location": location, "backend": backend}
        asked = " and ".join(f"{name} {value!r}" for name, value in chosen.items() if value)
        raise UsageError(f"{source}: no run for {asked}")
    return runs


def _selected(group: GroupOutput, location: str | None, backend: str | None) -> bool:
    """Whether the caller's --location/--backend pick this group (unnamed groups always)."""
    if location is not None and group.location not in (None, location):
        return False
    return backend is None or group.backend in (None, backend)


def _failed(
    location: str | None,
    backend: str | None,
    reason: str,
    *,
    exit_code: int | None,
    ended_at: float | None,
    problem: InputError | None,
) -> Collected:
    """One failed run, for an input that could not be read or parsed."""
    run = failed_run(location, backend, reason, exit_code=exit_code, ended_at=ended_at)
    return Collected([run], problem)


def _timed(runs: list[Run], seconds: float | None) -> list[Run]:
    return [replace(run, wall_seconds=seconds) for run in runs]
