"""The metric catalogue: every series pushrestic emits, declared once.

The alert rules, the Grafana dashboard and the README's metric table are
tested against :data:`CATALOGUE`. Every series carries ``location`` and
``backend`` labels, then the user's labels; ``job`` and ``instance`` come from
the push grouping key. A value the input does not carry is left out, never
reported as 0. Exposition text always comes from prometheus_client;
:func:`check_exposition` checks what is about to be rendered, before any sink.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client.core import Metric
from prometheus_client.registry import Collector, CollectorRegistry

from pushrestic import __version__
from pushrestic.errors import ExpositionError, UsageError
from pushrestic.model import Run

# Labels set by the push grouping key or by the catalogue itself: users may not set them.
RESERVED_LABELS = frozenset(
    {
        "job",
        "instance",
        "location",
        "backend",
        "state",
        "type",
        "snapshot_id",
        "restic_version",
        "version",
        "unit",
        "step",
        "command",
        "operation",
        "mode",
        "snapshot_hostname",
        "snapshot_paths",
        "snapshot_tags",
    }
)
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# The sample names each metric type gives (suffixes of the family's name), as
# prometheus_client renders them.
_SUFFIXES: dict[str, frozenset[str]] = {
    "gauge": frozenset({""}),
    "unknown": frozenset({""}),
    "stateset": frozenset({""}),
    "counter": frozenset({"_total", "_created"}),
    "summary": frozenset({"", "_count", "_sum", "_created"}),
    "histogram": frozenset({"_bucket", "_count", "_sum", "_created"}),
    "gaugehistogram": frozenset({"_bucket", "_gcount", "_gsum"}),
    "info": frozenset({"_info"}),
}

LAST_SUCCESS = "restic_backup_last_success_timestamp_seconds"

Sample = tuple[tuple[str, ...], float]


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric: its name, help, extra labels and how a run yields its samples."""

    name: str
    help: str
    samples: Callable[[Run], Iterable[Sample]]
    labels: tuple[str, ...] = ()


def _one(value: float | None) -> Iterable[Sample]:
    return () if value is None else (((), float(value)),)


def _backup(value: Callable[[Run], float | None]) -> Callable[[Run], Iterable[Sample]]:
    """A backup series: only for runs that were (or failed to be) backups."""

    def samples(run: Run) -> Iterable[Sample]:
        return _one(value(run)) if run.is_backup else ()

    return samples


def _summary(attribute: str) -> Callable[[Run], Iterable[Sample]]:
    def samples(run: Run) -> Iterable[Sample]:
        backup = run.output.backup
        if backup is None or backup.summary is None:
            return ()
        return _one(getattr(backup.summary, attribute))

    return samples


def _states(prefix: str) -> Callable[[Run], Iterable[Sample]]:
    def samples(run: Run) -> Iterable[Sample]:
        backup = run.output.backup
        if backup is None or backup.summary is None:
            return ()
        out = []
        for state in ("new", "changed", "unmodified"):
            value = getattr(backup.summary, f"{prefix}_{state}")
            if value is not None:
                out.append(((state,), float(value)))
        return out

    return samples


def _blobs(run: Run) -> Iterable[Sample]:
    backup = run.output.backup
    if backup is None or backup.summary is None:
        return ()
    pairs = (("data", backup.summary.data_blobs), ("tree", backup.summary.tree_blobs))
    return [((kind,), float(value)) for kind, value in pairs if value is not None]


def _duration(run: Run) -> float | None:
    backup = run.output.backup
    if backup is None or backup.summary is None:
        return run.wall_seconds if run.is_backup else None
    summary = backup.summary
    if summary.started_at is not None and summary.ended_at is not None:
        return max(0.0, summary.ended_at - summary.started_at)
    if summary.duration_seconds is None:
        return run.wall_seconds
    return summary.duration_seconds


def _steps(run: Run) -> Iterable[Sample]:
    return [((step.unit, step.step, step.command), step.seconds) for step in run.steps]


def _errors(run: Run) -> float | None:
    backup = run.output.backup
    return None if backup is None else backup.errors


def _info(run: Run) -> Iterable[Sample]:
    if not run.is_backup:
        return ()
    backup = run.output.backup
    snapshot = backup.snapshot_id if backup is not None and backup.snapshot_saved else None
    version = run.output.restic_version
    if snapshot is None and version is None:
        return ()
    return (((snapshot or "", version or ""), 1.0),)


def _forget(attribute: str) -> Callable[[Run], Iterable[Sample]]:
    def samples(run: Run) -> Iterable[Sample]:
        forget = run.output.forget
        if forget is None or forget.dry_run:
            return ()
        return _one(getattr(forget, attribute))

    return samples


def _prune(attribute: str) -> Callable[[Run], Iterable[Sample]]:
    def samples(run: Run) -> Iterable[Sample]:
        prune = run.output.prune
        if prune is None or prune.dry_run:
            return ()
        return _one(getattr(prune, attribute))

    return samples


def _check_success(run: Run) -> Iterable[Sample]:
    check = run.output.check
    if check is None:
        return ()
    ok = bool(check.ok) and run.outcome.exit_code in (0, None)
    return _one(1.0 if ok else 0.0)


def _check_errors(run: Run) -> Iterable[Sample]:
    check = run.output.check
    return () if check is None else _one(check.errors)


def _check_last_run(run: Run) -> Iterable[Sample]:
    return () if run.output.check is None else _one(run.ended_at)


def _stats(attribute: str) -> Callable[[Run], Iterable[Sample]]:
    """One sample per counting mode ``restic stats`` reported, when it has the value."""

    def samples(run: Run) -> Iterable[Sample]:
        out = []
        for result in run.output.stats:
            value = getattr(result, attribute)
            if value is not None:
                out.append(((result.mode,), float(value)))
        return out

    return samples


def _stats_last_run(run: Run) -> Iterable[Sample]:
    return _one(run.ended_at) if run.output.stats else ()


# A label value longer than this (a snapshot of thousands of paths, from
# --files-from) is cut, and the hash of the whole value keeps groups apart.
MAX_LABEL_VALUE = 200


def label_value(parts: Sequence[str]) -> str:
    """``parts`` joined with commas as one label value: text that encodes as UTF-8
    (a lone surrogate becomes ``?``), at most MAX_LABEL_VALUE characters."""
    value = ",".join(parts).encode("utf-8", "replace").decode("utf-8")
    if len(value) <= MAX_LABEL_VALUE:
        return value
    import hashlib

    digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:12]
    return f"{value[: MAX_LABEL_VALUE - 30]}... ({len(parts)} items, {digest})"


def _snapshot_groups(run: Run) -> dict[tuple[str, str, str], tuple[int, float | None]]:
    """The snapshot groups by their label values, merged where those coincide (a
    cut value, a comma in a path), so that no two series have the same labels."""
    snapshots = run.output.snapshots
    merged: dict[tuple[str, str, str], tuple[int, float | None]] = {}
    if snapshots is None:
        return merged
    for group in snapshots.groups:
        key = (label_value((group.hostname,)), label_value(group.paths), label_value(group.tags))
        count, latest = merged.get(key, (0, None))
        if group.latest_at is not None:
            latest = group.latest_at if latest is None else max(latest, group.latest_at)
        merged[key] = (count + group.snapshots, latest)
    return merged


def _snapshots_latest(run: Run) -> Iterable[Sample]:
    return [
        (key, latest) for key, (_, latest) in _snapshot_groups(run).items() if latest is not None
    ]


def _snapshots_group_listed(run: Run) -> Iterable[Sample]:
    return [(key, float(count)) for key, (count, _) in _snapshot_groups(run).items()]


def _snapshots_total(run: Run) -> Iterable[Sample]:
    snapshots = run.output.snapshots
    return () if snapshots is None else _one(snapshots.total)


def _snapshots_last_run(run: Run) -> Iterable[Sample]:
    return () if run.output.snapshots is None else _one(run.ended_at)


CATALOGUE: tuple[MetricSpec, ...] = (
    MetricSpec(
        "restic_backup_success",
        "1 if the last backup run exited 0, else 0 (exit 3, a partial snapshot, is 0).",
        _backup(lambda run: 1.0 if run.outcome.success else 0.0),
    ),
    MetricSpec(
        "restic_backup_exit_code",
        "Exit code of the last backup run, when known (0 ok, 3 partial, other failure).",
        _backup(lambda run: run.outcome.exit_code),
    ),
    MetricSpec(
        "restic_backup_last_run_timestamp_seconds",
        "Unix time when the last backup run ended.",
        _backup(lambda run: run.ended_at),
    ),
    MetricSpec(
        LAST_SUCCESS,
        "Unix time when the last backup run that exited 0 (not a dry run) ended, as far as known.",
        _backup(lambda run: run.last_success_at),
    ),
    MetricSpec(
        "restic_backup_duration_seconds",
        "Duration of the last backup run (restic's own figure, else the command's wall time).",
        lambda run: _one(_duration(run)),
    ),
    MetricSpec(
        "restic_backup_files",
        "Files in the last backup, by state (new, changed, unmodified).",
        _states("files"),
        ("state",),
    ),
    MetricSpec(
        "restic_backup_dirs",
        "Directories in the last backup, by state (new, changed, unmodified).",
        _states("dirs"),
        ("state",),
    ),
    MetricSpec(
        "restic_backup_blobs",
        "Blobs added by the last backup, by type (data, tree).",
        _blobs,
        ("type",),
    ),
    MetricSpec(
        "restic_backup_processed_files",
        "Files processed by the last backup.",
        _summary("processed_files"),
    ),
    MetricSpec(
        "restic_backup_processed_bytes",
        "Bytes processed (read or scanned) by the last backup.",
        _summary("processed_bytes"),
    ),
    MetricSpec(
        "restic_backup_added_bytes",
        "Data added to the repository by the last backup, before compression.",
        _summary("added_bytes"),
    ),
    MetricSpec(
        "restic_backup_added_stored_bytes",
        "Data added to the repository by the last backup, as stored (after compression).",
        _summary("added_stored_bytes"),
    ),
    MetricSpec(
        "restic_backup_errors",
        "Per-file errors (unreadable or missing sources) during the last backup.",
        lambda run: _one(_errors(run)),
    ),
    MetricSpec(
        "restic_backup_info",
        "Always 1; labels name the last saved snapshot and the restic version, when known.",
        _info,
        ("snapshot_id", "restic_version"),
    ),
    MetricSpec(
        "restic_forget_kept_snapshots",
        "Snapshots kept by the last forget.",
        _forget("kept_snapshots"),
    ),
    MetricSpec(
        "restic_forget_removed_snapshots",
        "Snapshots removed by the last forget.",
        _forget("removed_snapshots"),
    ),
    MetricSpec(
        "restic_prune_removed_blobs",
        "Blobs removed by the last prune.",
        _prune("removed_blobs"),
    ),
    MetricSpec(
        "restic_prune_freed_bytes",
        "Bytes freed by the last prune.",
        _prune("freed_bytes"),
    ),
    MetricSpec(
        "restic_prune_repacked_bytes",
        "Bytes repacked by the last prune.",
        _prune("repacked_bytes"),
    ),
    MetricSpec(
        "restic_prune_unused_bytes",
        "Unused bytes left in the repository after the last prune.",
        _prune("unused_bytes"),
    ),
    MetricSpec(
        "restic_repository_size_bytes",
        "Size of the repository's blobs after the last prune.",
        _prune("repository_size_bytes"),
    ),
    MetricSpec(
        "restic_check_success",
        "1 if the last restic check found no errors, else 0.",
        _check_success,
    ),
    MetricSpec(
        "restic_check_errors",
        "Errors found by the last restic check, when it reports a count (restic 0.18+ JSON).",
        _check_errors,
    ),
    MetricSpec(
        "restic_check_last_run_timestamp_seconds",
        "Unix time when the last restic check ended.",
        _check_last_run,
    ),
    MetricSpec(
        "restic_stats_size_bytes",
        "Total size restic stats counted, by counting mode (restore-size: the files as "
        "restored; raw-data: the blobs as stored).",
        _stats("size_bytes"),
        ("mode",),
    ),
    MetricSpec(
        "restic_stats_uncompressed_size_bytes",
        "Size of the blobs before compression, by counting mode (raw-data, restic 0.15+, "
        "repository format 2).",
        _stats("uncompressed_size_bytes"),
        ("mode",),
    ),
    MetricSpec(
        "restic_stats_files",
        "Files restic stats counted, by counting mode (restore-size counts directories "
        "too; not in raw-data mode).",
        _stats("files"),
        ("mode",),
    ),
    MetricSpec(
        "restic_stats_blobs",
        "Blobs restic stats counted, by counting mode (raw-data, blobs-per-file).",
        _stats("blobs"),
        ("mode",),
    ),
    MetricSpec(
        "restic_stats_snapshots",
        "Snapshots restic stats processed, by counting mode (text 0.10+, JSON 0.14+).",
        _stats("snapshots"),
        ("mode",),
    ),
    MetricSpec(
        "restic_stats_compression_ratio",
        "Uncompressed to compressed size of the compressed blobs (restic's 1.25x), by "
        "counting mode (raw-data, 0.15+).",
        _stats("compression_ratio"),
        ("mode",),
    ),
    MetricSpec(
        "restic_stats_compression_progress_ratio",
        "Fraction of the data stored compressed (restic's Compression Progress), by "
        "counting mode (raw-data, 0.15+).",
        _stats("compression_progress_ratio"),
        ("mode",),
    ),
    MetricSpec(
        "restic_stats_compression_space_saving_ratio",
        "Fraction of the size compression saves (restic's Compression Space Saving), by "
        "counting mode (raw-data, 0.15+).",
        _stats("compression_space_saving_ratio"),
        ("mode",),
    ),
    MetricSpec(
        "restic_stats_last_run_timestamp_seconds",
        "Unix time when the last restic stats reported ended.",
        _stats_last_run,
    ),
    MetricSpec(
        "restic_snapshots_latest_timestamp_seconds",
        "Unix time of the latest snapshot in the repository, per group as restic snapshots "
        "--json grouped them (host and paths, or --group-by).",
        _snapshots_latest,
        ("snapshot_hostname", "snapshot_paths", "snapshot_tags"),
    ),
    MetricSpec(
        "restic_snapshots_group_listed",
        "Snapshots restic snapshots --json listed per group (at most N with --latest N).",
        _snapshots_group_listed,
        ("snapshot_hostname", "snapshot_paths", "snapshot_tags"),
    ),
    MetricSpec(
        "restic_snapshots_listed",
        "Snapshots restic snapshots --json listed in all (0 for an empty repository).",
        _snapshots_total,
    ),
    MetricSpec(
        "restic_snapshots_last_run_timestamp_seconds",
        "Unix time when the last restic snapshots --json reported ended.",
        _snapshots_last_run,
    ),
    MetricSpec(
        "restic_unit_step_duration_seconds",
        "How long each command of the systemd unit that ran the backup took.",
        _steps,
        ("unit", "step", "command"),
    ),
    MetricSpec(
        "pushrestic_build_info",
        "Always 1; the version label is pushrestic's.",
        lambda run: (((__version__,), 1.0),),
        ("version",),
    ),
)

METRIC_NAMES: tuple[str, ...] = tuple(spec.name for spec in CATALOGUE)


def is_label_name(name: str) -> bool:
    """Whether ``name`` is a Prometheus label name that is not Prometheus's own
    (``__name__`` and every other ``__`` name are)."""
    return _LABEL_NAME.fullmatch(name) is not None and not name.startswith("__")


def check_label_name(name: str) -> None:
    """Raise UsageError unless ``name`` is a label a user may set: a label name
    (:func:`is_label_name`) that pushrestic does not set itself (RESERVED_LABELS).
    The one check of the ``[labels]`` and ``pushgateway.grouping_labels`` tables and
    of ``--label`` and ``--grouping-label`` (config resolves them)."""
    if not is_label_name(name):
        raise UsageError(f"label {name!r}: not a valid Prometheus label name")
    if name in RESERVED_LABELS:
        raise UsageError(f"label {name!r} is reserved: pushrestic sets it itself")


class RunsCollector(Collector):
    """Yields the catalogue's families for a set of runs: one run per push group,
    or all of them merged for a textfile or a dry run."""

    def __init__(self, runs: Sequence[Run], labels: Mapping[str, str] | None = None) -> None:
        self._runs = tuple(runs)
        self._labels = dict(sorted((labels or {}).items()))

    def collect(self) -> Iterator[Metric]:
        for spec in CATALOGUE:
            family = Metric(spec.name, spec.help, "gauge")
            for run in self._runs:
                base = {"location": run.location, "backend": run.backend}
                if run.operation is not None:
                    base["operation"] = run.operation
                base.update(self._labels)
                for extra, value in spec.samples(run):
                    # An empty label value is no label (Prometheus reads them alike):
                    # left out rather than written as restic_version="".
                    own = {k: v for k, v in zip(spec.labels, extra, strict=True) if v != ""}
                    family.add_sample(spec.name, {**base, **own}, value)
            if family.samples:
                yield family


def build_registry(
    runs: Sequence[Run], labels: Mapping[str, str] | None = None
) -> CollectorRegistry:
    """A fresh registry (never the global one) holding the series of ``runs``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RunsCollector(runs, labels))
    return registry


def check_exposition(families: Iterable[Metric]) -> None:
    """Check families about to be rendered (a collector's or a registry's
    ``collect()``): each metric declared once, each sample's name one its
    metric's type gives, label names valid, label values UTF-8 text, and no two
    series with the same name and labels, which the Pushgateway refuses (400)
    and node_exporter drops.

    Raises ExpositionError, a one-line message naming the metric and labels:
    pushrestic never emits such an exposition unless it has a bug.
    """
    declared: dict[str, str] = {}
    owners: dict[str, str] = {}  # sample name -> the family that gives it
    seen: set[tuple[str, frozenset[tuple[str, str]]]] = set()
    for metric in families:
        if metric.name in declared:
            raise ExpositionError(
                f"a bug: metric {metric.name} is declared twice "
                f"({declared[metric.name]}, then {metric.type})"
            )
        declared[metric.name] = metric.type
        suffixes = _SUFFIXES.get(metric.type, frozenset())
        for sample in metric.samples:
            name = sample.name
            if not name.startswith(metric.name) or name[len(metric.name) :] not in suffixes:
                raise ExpositionError(
                    f"a bug: sample {name} does not fit metric {metric.name} of type {metric.type}"
                )
            owner = owners.setdefault(name, metric.name)
            if owner != metric.name:
                raise ExpositionError(
                    f"a bug: series {name} comes from two metrics, {owner} and {metric.name}"
                )
            for label, value in sample.labels.items():
                if not is_label_name(label):
                    raise ExpositionError(
                        f"a bug: {_series(name, sample.labels)}: bad label name {label!r}"
                    )
                if not value.isascii():
                    try:
                        value.encode("utf-8")
                    except UnicodeEncodeError:
                        raise ExpositionError(
                            f"a bug: {_series(name, sample.labels)}: "
                            f"label {label} is not UTF-8 text"
                        ) from None
            key = (name, frozenset(sample.labels.items()))
            if key in seen:
                raise ExpositionError(
                    f"a bug: two series {_series(name, sample.labels)} (same name and labels)"
                )
            seen.add(key)


def _series(name: str, labels: Mapping[str, str]) -> str:
    """``name{a="x",b="y"}`` on one line: quotes, backslashes and characters that
    are not printable (line breaks included) escaped."""
    shown = ",".join(f'{label}="{_escaped(value)}"' for label, value in sorted(labels.items()))
    return f"{name}{{{shown}}}"


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r"}


def _escaped(value: str) -> str:
    if value.isprintable() and '"' not in value and "\\" not in value:
        return value
    return "".join(
        _ESCAPES.get(char) or (char if char.isprintable() else ascii(char)[1:-1]) for char in value
    )
