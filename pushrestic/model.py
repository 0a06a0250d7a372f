"""The typed model of a backup run, in base units (bytes, seconds, Unix timestamps).

Parsers produce :class:`ResticOutput` (what one restic invocation printed);
:func:`pushrestic.outcome.resolve_outcome` combines it with what is known of the
exit code into a :class:`Run`, which the metric catalogue turns into series.
A field that the input does not carry is ``None`` and its series is left out.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

#: The operations reported as groups of their own (an ``operation`` label).
OPERATIONS = ("forget", "prune", "check", "stats", "snapshots")

DEFAULT_LOCATION = "default"
DEFAULT_BACKEND = "default"

#: How far a time may lie in the future and still be trusted (clocks of hosts
#: and file systems disagree a little); anything later is a wrong clock or a
#: planted value, and a last success time from the future could never age.
CLOCK_SKEW_SECONDS = 300.0


def trusted_time(when: float | None, now: float) -> float | None:
    """``when`` if it is a plausible past (or barely future) time, else None."""
    if when is None or not when > 0 or when > now + CLOCK_SKEW_SECONDS:
        return None
    return when


def latest_success(*candidates: float | None, now: float) -> float | None:
    """The one rule for a group's last success time: the latest of ``candidates``
    (this run's end, the spool's record, the textfile, the gateway), never going
    backwards, and never later than ``now`` allows (future times are ignored)."""
    trusted = [t for t in (trusted_time(c, now) for c in candidates) if t is not None]
    return max(trusted, default=None)


@dataclass(frozen=True, slots=True)
class BackupSummary:
    """restic's end-of-backup summary (text ``Files:``/``Added``/``processed`` or JSON)."""

    files_new: int | None = None
    files_changed: int | None = None
    files_unmodified: int | None = None
    dirs_new: int | None = None
    dirs_changed: int | None = None
    dirs_unmodified: int | None = None
    data_blobs: int | None = None
    tree_blobs: int | None = None
    processed_files: int | None = None
    processed_bytes: int | None = None
    added_bytes: int | None = None
    added_stored_bytes: int | None = None
    duration_seconds: float | None = None
    started_at: float | None = None
    ended_at: float | None = None
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class BackupResult:
    """Everything a ``restic backup`` run printed that matters for reporting."""

    summary: BackupSummary | None = None
    snapshot_id: str | None = None
    parent_snapshot_id: str | None = None
    snapshot_skipped: bool = False
    errors: int = 0
    unreadable_warning: bool = False

    @property
    def dry_run(self) -> bool:
        return self.summary is not None and self.summary.dry_run

    @property
    def snapshot_saved(self) -> bool:
        """A snapshot was written to the repository by this run."""
        return self.snapshot_id is not None and not self.dry_run and not self.snapshot_skipped


@dataclass(frozen=True, slots=True)
class ForgetResult:
    """``restic forget``: snapshots kept and removed, summed over all groups."""

    kept_snapshots: int
    removed_snapshots: int
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class PruneResult:
    """``restic prune`` (either generation of its summary)."""

    removed_blobs: int | None = None
    freed_bytes: int | None = None
    repacked_blobs: int | None = None
    repacked_bytes: int | None = None
    remaining_blobs: int | None = None
    repository_size_bytes: int | None = None
    unused_bytes: int | None = None
    dry_run: bool = False
    deleted_blobs: int | None = None  # 0.12+ "to delete": blobs in packs deleted whole
    repack_removed_blobs: int | None = None  # 0.12+ "this removes": dropped while repacking


@dataclass(frozen=True, slots=True)
class CheckResult:
    """``restic check``: ``ok`` is None until a verdict line was seen."""

    ok: bool | None = None
    errors: int | None = None


@dataclass(frozen=True, slots=True)
class StatsResult:
    """``restic stats`` in one counting mode (``restore-size``, ``files-by-contents``,
    ``blobs-per-file``, ``raw-data``). A count the mode counts but restic left out
    (it prints and encodes only non-zero counts) is 0; one the mode does not count,
    or a value this restic version does not print, is None. Ratios are fractions
    (restic's ``100.00%`` is 1.0), the compression ratio is restic's ``1.25x``."""

    mode: str
    size_bytes: int
    snapshots: int | None = None  # "Snapshots processed" (text 0.10+, JSON 0.14+)
    files: int | None = None
    blobs: int | None = None
    uncompressed_size_bytes: int | None = None  # raw-data, repository format 2 (0.15+)
    compression_ratio: float | None = None
    compression_progress_ratio: float | None = None
    compression_space_saving_ratio: float | None = None


@dataclass(frozen=True, slots=True)
class SnapshotGroup:
    """The snapshots ``restic snapshots --json`` listed for one group, as restic grouped
    them: a value restic did not group by is empty (``--group-by host`` leaves paths
    and tags empty; the plain list is grouped by host and paths, as ``--latest`` is)."""

    hostname: str
    paths: tuple[str, ...]
    tags: tuple[str, ...]
    snapshots: int
    latest_at: float | None  # the latest snapshot's time; None for a group listed empty


@dataclass(frozen=True, slots=True)
class SnapshotsResult:
    """``restic snapshots --json``: the groups (sorted) and every snapshot listed."""

    groups: tuple[SnapshotGroup, ...]
    total: int


@dataclass(frozen=True, slots=True)
class ResticOutput:
    """What the output of one restic invocation (or a script running several) shows.

    ``fatal`` is the first fatal message (``Fatal: …``, a lock failure, an
    interrupt); ``exit_error_code`` is the code of a JSON ``exit_error`` line
    (restic 0.18+). ``recognized`` is False when no line was recognized as restic's.
    """

    backup: BackupResult | None = None
    forget: ForgetResult | None = None
    prune: PruneResult | None = None
    check: CheckResult | None = None
    stats: tuple[StatsResult, ...] = ()  # one per counting mode shown
    snapshots: SnapshotsResult | None = None
    fatal: str | None = None
    interrupted: bool = False
    exit_error_code: int | None = None
    missing_sources: int = 0
    restic_version: str | None = None
    lines: int = 0
    recognized: bool = False


class ExitCodeSource(enum.Enum):
    """Where a run's exit code came from."""

    GIVEN = "given"  # --exit-code, the wrapped command, $EXIT_STATUS
    EXIT_ERROR = "exit_error"  # restic 0.18+ JSON exit_error line
    AUTORESTIC = "autorestic"  # 'exit status N' or AUTORESTIC_EXIT_CODE_*
    INFERRED = "inferred"  # from the output itself
    UNKNOWN = "unknown"  # failure without a code


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a run ended. ``exit_code`` is None when it failed and no code is known."""

    exit_code: int | None
    source: ExitCodeSource
    reason: str = ""

    @property
    def success(self) -> bool:
        return self.exit_code == 0

    @property
    def partial(self) -> bool:
        return self.exit_code == 3


@dataclass(frozen=True, slots=True)
class StepTiming:
    """How long one command of a systemd unit ran (ExecStartPre=, ExecStart=, …)."""

    unit: str
    step: str
    command: str
    seconds: float


@dataclass(frozen=True, slots=True)
class Run:
    """One (location, backend) group's run: what the metric catalogue reports."""

    location: str
    backend: str
    outcome: Outcome
    output: ResticOutput = field(default_factory=ResticOutput)
    ended_at: float | None = None
    previous_success_at: float | None = None  # carried from earlier reports of the group
    wall_seconds: float | None = None  # measured around the command (pushrestic run)
    steps: tuple[StepTiming, ...] = ()  # a systemd unit's commands (pushrestic journal)

    @property
    def is_backup(self) -> bool:
        """Report backup series: a backup was seen, or nothing but a failure was."""
        o = self.output
        return o.backup is not None or (
            o.forget is None
            and o.prune is None
            and o.check is None
            and not o.stats
            and o.snapshots is None
        )

    @property
    def operation(self) -> str | None:
        """None for a backup; for a run of forget, prune, check, stats or snapshots
        alone, which one.

        Such a run is its own group (an ``operation`` label), so that reporting a
        separate ``restic check`` never replaces a backup's series, nor a backup a check's.
        """
        if self.is_backup:
            return None
        if self.output.check is not None:
            return "check"
        if self.output.stats:
            return "stats"
        if self.output.snapshots is not None:
            return "snapshots"
        return "forget" if self.output.forget is not None else "prune"

    @property
    def group(self) -> tuple[str, str, str]:
        """The group's identity: location, backend and operation ('' for a backup)."""
        return (self.location, self.backend, self.operation or "")

    @property
    def last_success_at(self) -> float | None:
        """When the group's last run that protected data ended: this run's end if it did,
        else the time carried from earlier reports; it never goes backwards."""
        candidates = [t for t in (self.previous_success_at,) if t is not None]
        if self.protected_data and self.ended_at is not None:
            candidates.append(self.ended_at)
        return max(candidates, default=None)

    @property
    def protected_data(self) -> bool:
        """The run exited 0 and the data is in the repository (not a dry run)."""
        if not self.outcome.success or not self.is_backup:
            return False
        backup = self.output.backup
        return backup is None or not backup.dry_run


@dataclass(frozen=True, slots=True)
class GroupOutput:
    """A parser's result for one (location, backend) group, before its outcome is resolved.

    ``location``/``backend`` are None when the input does not name them (a plain
    restic log). ``exit_code`` is the code the tool that ran restic reported
    (autorestic's ``exit status N``, ``AUTORESTIC_EXIT_CODE_*``), if any.
    """

    location: str | None
    backend: str | None
    output: ResticOutput
    exit_code: int | None = None
