"""How a run ended: the exit code when it is known, otherwise inferred from the output.

Precedence: a code given by the caller (``--exit-code``, the wrapped command),
then restic's JSON ``exit_error`` line (0.18+), then the code autorestic
reported; otherwise the output decides: a saved (or deliberately skipped) snapshot,
with or without the summary before it, or a dry-run summary is 0, with the
unreadable-files warning or per-file errors 3; a fatal message, an interrupt, or
neither a summary nor a snapshot line is a failure whose code is unknown.
restic's codes: 0 ok, 3 snapshot saved but incomplete, anything else failure.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from pushrestic.model import (
    CLOCK_SKEW_SECONDS,
    DEFAULT_BACKEND,
    DEFAULT_LOCATION,
    ExitCodeSource,
    GroupOutput,
    Outcome,
    ResticOutput,
    Run,
    trusted_time,
)

log = logging.getLogger(__name__)

# restic 0.19.0 made a missing top-level source an exit-3 warning (#4467).
_MISSING_SOURCE_IS_PARTIAL_SINCE = (0, 19, 0)
_VERSION = re.compile(r"([0-9]+)\.([0-9]+)(?:\.([0-9]+))?")


def infer_outcome(output: ResticOutput) -> Outcome:
    """What the output alone says about the exit code."""
    if output.interrupted:
        return Outcome(None, ExitCodeSource.UNKNOWN, "interrupted")
    if output.fatal is not None:
        return Outcome(None, ExitCodeSource.UNKNOWN, output.fatal)
    backup = output.backup
    if backup is not None:
        # restic prints 'snapshot ... saved' (or 'skipped creating snapshot') only once
        # the run has succeeded: with no fatal message, it decides without the summary.
        saved = backup.snapshot_id is not None or backup.snapshot_skipped
        if backup.summary is None and not saved:
            return Outcome(None, ExitCodeSource.UNKNOWN, "no backup summary in the output")
        if backup.snapshot_id is None and not backup.snapshot_skipped and not backup.dry_run:
            return Outcome(None, ExitCodeSource.UNKNOWN, "no snapshot was saved")
        if backup.unreadable_warning or backup.errors > output.missing_sources:
            return Outcome(3, ExitCodeSource.INFERRED, "some source files could not be read")
        if output.missing_sources and _version_at_least(
            output.restic_version, _MISSING_SOURCE_IS_PARTIAL_SINCE
        ):
            return Outcome(3, ExitCodeSource.INFERRED, "a source path does not exist")
        return Outcome(0, ExitCodeSource.INFERRED)
    if output.check is not None:
        if output.check.ok:
            return Outcome(0, ExitCodeSource.INFERRED)
        return Outcome(None, ExitCodeSource.UNKNOWN, "check did not report 'no errors were found'")
    if output.forget is not None or output.prune is not None:
        return Outcome(0, ExitCodeSource.INFERRED)
    if output.stats or output.snapshots is not None:  # restic printed its whole result
        return Outcome(0, ExitCodeSource.INFERRED)
    return Outcome(None, ExitCodeSource.UNKNOWN, "no restic output")


def resolve_outcome(group: GroupOutput, given_exit_code: int | None = None) -> Outcome:
    """The run's outcome, from the best evidence available."""
    inferred = infer_outcome(group.output)
    if given_exit_code is not None:
        return Outcome(given_exit_code, ExitCodeSource.GIVEN, _reason(given_exit_code, inferred))
    if group.output.exit_error_code is not None:
        code = group.output.exit_error_code
        return Outcome(code, ExitCodeSource.EXIT_ERROR, _reason(code, inferred))
    if group.exit_code is not None:
        code = group.exit_code
        return Outcome(code, ExitCodeSource.AUTORESTIC, _reason(code, inferred))
    return inferred


def build_run(
    group: GroupOutput,
    *,
    given_exit_code: int | None = None,
    location: str | None = None,
    backend: str | None = None,
    ended_at: float | None = None,
    ended_from: str = "the input",
    now: float | None = None,
) -> Run:
    """A Run from a parsed group; ``location``/``backend`` fill what the input does not name.

    The run ended when restic's summary says, else at ``ended_at`` (``ended_from``
    names where that time comes from: the log's modification time, the journal).
    A time beyond ``now`` plus CLOCK_SKEW_SECONDS is not trusted (a wrong clock, or
    ``touch -d 2100 log``: it would pin the last success time for ever): the next
    candidate is taken, and ``now`` when none is left, with a warning saying why.
    """
    now = time.time() if now is None else now
    run_location = group.location or location or DEFAULT_LOCATION
    run_backend = group.backend or backend or DEFAULT_BACKEND
    summary = group.output.backup.summary if group.output.backup else None
    end = run_end(
        ((summary.ended_at if summary else None, "restic's summary"), (ended_at, ended_from)),
        now=now,
        what=f"{run_location}/{run_backend}",
    )
    return Run(
        location=run_location,
        backend=run_backend,
        outcome=resolve_outcome(group, given_exit_code),
        output=group.output,
        ended_at=end,
    )


def run_end(
    candidates: Iterable[tuple[float | None, str]], *, now: float, what: str
) -> float | None:
    """The first of ``candidates`` ((time, where it comes from), best first) that
    :func:`pushrestic.model.trusted_time` accepts; ``now`` if every time given was
    refused (each refusal is logged); None if none was given."""
    refused = False
    for when, source in candidates:
        if when is None:
            continue
        if trusted_time(when, now) is not None:
            return when
        refused = True
        log.warning(
            "%s: the end time %s from %s is not trusted (later than now plus %.0f s, or not "
            "a time); using the current time instead",
            what,
            _show_time(when),
            source,
            CLOCK_SKEW_SECONDS,
        )
    return now if refused else None


def failed_run(
    location: str | None,
    backend: str | None,
    reason: str,
    *,
    exit_code: int | None = None,
    ended_at: float | None = None,
) -> Run:
    """A run known to have happened whose output could not be read: reported as failed."""
    code = exit_code if exit_code not in (None, 0) else None
    source = ExitCodeSource.GIVEN if code is not None else ExitCodeSource.UNKNOWN
    return Run(
        location=location or DEFAULT_LOCATION,
        backend=backend or DEFAULT_BACKEND,
        outcome=Outcome(code, source, reason),
        ended_at=ended_at,
    )


def _reason(code: int, inferred: Outcome) -> str:
    if code == 0:
        return ""
    if inferred.reason:
        return inferred.reason
    return "snapshot saved, some files could not be read" if code == 3 else f"exit code {code}"


def _show_time(when: float) -> str:
    """``when`` as an ISO 8601 UTC time when it is one, else as a number."""
    try:
        return datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds")
    except (OverflowError, ValueError, OSError):
        return repr(when)


def _version_at_least(version: str | None, minimum: tuple[int, int, int]) -> bool:
    """Whether ``version`` (``0.19.0``, ``0.19.0-dev (compiled manually)``) is ``minimum`` or later.

    A ``-dev`` build of restic carries the number of the release it was built after.
    """
    match = _VERSION.match(version or "")
    if match is None:
        return False
    major, minor, patch = match.groups()
    return (int(major), int(minor), int(patch or 0)) >= minimum
