"""The node_exporter textfile sink: all groups merged in one exposition.

``render`` gives exactly what a textfile holds (and what ``--dry-run`` prints):
one HELP/TYPE per metric, every series labelled with its location and backend,
no sample timestamps; the text always comes from prometheus_client.

``write`` updates a textfile in place of the groups it reports, keeping the
series of every other group already in the file (one location never removes
another's) and each reported group's last success time when the new run did
not succeed. It writes a hidden temporary file in the same directory and
renames it, under a lock, so node_exporter never reads half a file and two
pushrestic processes never lose each other's groups.

The file is read back as bytes (a carriage return that prometheus_client
writes raw inside a label value survives), never through a link and never
unless it is a regular file. A file that cannot be parsed is never replaced
silently: it is kept beside the textfile as ``NAME.prom.broken-<time>``
(mode 0600, a name node_exporter does not read), a warning names it, and the
new groups are written.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from prometheus_client.core import Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.samples import Sample

from pushrestic.errors import DeliveryError
from pushrestic.metrics import CATALOGUE, LAST_SUCCESS, METRIC_NAMES, RunsCollector, build_registry
from pushrestic.model import Run, latest_success

log = logging.getLogger(__name__)

_HELP = {spec.name: spec.help for spec in CATALOGUE}
Group = tuple[str, str, str]
LOCK_TIMEOUT = 60.0  # seconds a write waits for another pushrestic writing the same file


def render(runs: Sequence[Run], labels: Mapping[str, str] | None = None) -> bytes:
    """The exposition text of ``runs``, all groups merged."""
    return generate_latest(build_registry(runs, labels))


def with_last_success(body: bytes, when: float) -> bytes:
    """One group's exposition with its last success time set to ``when`` where it has none.

    Used for a report that was spooled before its last success time could be
    learned: the time is added with the group's labels, taken from its
    ``restic_backup_success`` series. A body without that series (not a backup)
    or with a last success time already is returned as it is.
    """
    families = list(text_string_to_metric_families(body.decode("utf-8")))
    names = {family.name for family in families}
    success = next((f for f in families if f.name == "restic_backup_success"), None)
    if LAST_SUCCESS in names or success is None or not success.samples:
        return body
    labels = dict(success.samples[0].labels)
    added = Metric(LAST_SUCCESS, _HELP[LAST_SUCCESS], "gauge")
    added.add_sample(LAST_SUCCESS, labels, when)
    ordered = []
    for family in families:
        ordered.append(family)
        if family.name == "restic_backup_last_run_timestamp_seconds":
            ordered.append(added)
    if added not in ordered:
        ordered.append(added)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(ordered))
    return generate_latest(registry)


class _Fixed(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def write(
    path: Path,
    runs: Sequence[Run],
    labels: Mapping[str, str] | None = None,
    *,
    timeout: float | None = LOCK_TIMEOUT,
    now: float | None = None,
) -> None:
    """Put ``runs`` into the textfile at ``path``, keeping the other groups already there.

    ``timeout`` bounds the wait for another writer's lock (None: wait as long
    as it holds it). A last success time in the file later than ``now``
    (default: the clock) allows is not carried forward. Raises DeliveryError
    when the file cannot be written, when ``path`` is a link or not a regular
    file, or when the lock is still held after ``timeout`` seconds. An
    existing file that cannot be parsed is kept aside (see the module's
    docstring) and does not stop the write.
    """
    from pushrestic.sinks.files import atomic_write, locked

    if not path.name.endswith(".prom"):
        raise DeliveryError(f"{path}: node_exporter reads only files ending in .prom")
    if not path.parent.is_dir():
        raise DeliveryError(f"{path.parent}: no such directory")
    with locked(path.parent / f".{path.name}.lock", timeout=timeout):
        existing = _read(path)
        reported = {run.group for run in runs}
        now = time.time() if now is None else now
        carried = [
            replace(run, previous_success_at=_latest_success(existing, run, now)) for run in runs
        ]
        kept = [f for f in existing if f.name in METRIC_NAMES]
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Merged(RunsCollector(carried, labels), kept, reported))
        atomic_write(path, generate_latest(registry), mode=0o644)


def _read(path: Path) -> list[Metric]:
    """The metric families of the textfile at ``path`` ([] when there is none).

    A file that is not UTF-8 or not an exposition is set aside and [] returned.
    """
    from pushrestic.sinks.files import read_regular

    raw = read_regular(path)
    if raw is None:
        return []
    try:
        return list(text_string_to_metric_families(raw.decode("utf-8")))
    except ValueError as error:  # UnicodeDecodeError is one too
        kept = _set_aside(path)
        log.warning(
            "%s could not be parsed (%s); kept as %s, and its groups are left out "
            "until their next report",
            path,
            str(error).splitlines()[0][:200] if str(error) else type(error).__name__,
            kept,
        )
        return []


def _set_aside(path: Path) -> Path:
    """Rename the file at ``path`` to a free ``NAME.broken-<UTC time>`` name, mode 0600.

    The mode is set through a descriptor of the file itself (never through a
    link); the caller holds the textfile's lock, so no other pushrestic renames
    meanwhile. Raises DeliveryError when it cannot be kept.
    """
    from pushrestic.sinks.files import open_regular

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    try:
        fd = open_regular(path)
        try:
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
        for number in range(1000):
            kept = path.with_name(f"{path.name}.broken-{stamp}" + (f".{number}" if number else ""))
            if not os.path.lexists(kept):
                os.rename(path, kept)
                return kept
    except OSError as error:
        raise DeliveryError(
            f"{path} could not be parsed and could not be kept aside: {error.strerror or error}"
        ) from None
    raise DeliveryError(f"{path} could not be parsed and could not be kept aside: too many kept")


def _latest_success(existing: list[Metric], run: Run, now: float) -> float | None:
    """The group's last success time carried forward: the file's or the run's, by the one rule."""
    values = [
        sample.value
        for family in existing
        if family.name == LAST_SUCCESS
        for sample in family.samples
        if _group(sample) == run.group
    ]
    return latest_success(*values, run.previous_success_at, now=now)


class _Merged(Collector):
    """New runs' families, plus the other groups' samples from the existing file."""

    def __init__(self, new: RunsCollector, existing: list[Metric], reported: set[Group]) -> None:
        self._new = new
        # A name may come in more than one family (a file put together by hand): keep all.
        self._existing: dict[str, list[Metric]] = {}
        for family in existing:
            self._existing.setdefault(family.name, []).append(family)
        self._reported = reported

    def collect(self) -> Iterator[Metric]:
        seen = set()
        for family in self._new.collect():
            seen.add(family.name)
            family.samples.extend(self._others(family.name))
            yield family
        for name in METRIC_NAMES:
            old = self._existing.get(name)
            if name in seen or not old:
                continue
            others = list(self._others(name))
            if others:
                family = Metric(old[0].name, old[0].documentation, old[0].type)
                family.samples = others
                yield family

    def _others(self, name: str) -> Iterator[Sample]:
        seen = set()
        for old in self._existing.get(name, ()):
            for sample in old.samples:
                series = (sample.name, tuple(sorted(sample.labels.items())))
                if _group(sample) not in self._reported and series not in seen:
                    seen.add(series)
                    yield sample


def _group(sample: Sample) -> Group:
    labels = sample.labels
    return (labels.get("location", ""), labels.get("backend", ""), labels.get("operation", ""))
