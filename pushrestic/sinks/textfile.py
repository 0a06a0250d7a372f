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
"""

from __future__ import annotations

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
from pushrestic.model import Run

_HELP = {spec.name: spec.help for spec in CATALOGUE}
Group = tuple[str, str, str]


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


def write(path: Path, runs: Sequence[Run], labels: Mapping[str, str] | None = None) -> None:
    """Put ``runs`` into the textfile at ``path``, keeping the other groups already there."""
    from pushrestic.files import atomic_write, locked

    if not path.name.endswith(".prom"):
        raise DeliveryError(f"{path}: node_exporter reads only files ending in .prom")
    if not path.parent.is_dir():
        raise DeliveryError(f"{path.parent}: no such directory")
    with locked(path.parent / f".{path.name}.lock"):
        existing = _read(path)
        reported = {run.group for run in runs}
        carried = [replace(run, previous_success_at=_latest_success(existing, run)) for run in runs]
        kept = [f for f in existing if f.name in METRIC_NAMES]
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Merged(RunsCollector(carried, labels), kept, reported))
        atomic_write(path, generate_latest(registry), mode=0o644)


def _read(path: Path) -> list[Metric]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as error:
        raise DeliveryError(f"cannot read {path}: {error}") from None
    try:
        return list(text_string_to_metric_families(text))
    except ValueError:
        return []  # a broken file is replaced: its groups are reported again by their next run


def _latest_success(existing: list[Metric], run: Run) -> float | None:
    values = [
        sample.value
        for family in existing
        if family.name == LAST_SUCCESS
        for sample in family.samples
        if _group(sample) == run.group
    ]
    latest = max(values, default=None)
    if run.previous_success_at is not None:
        return max(latest or 0.0, run.previous_success_at)
    return latest


class _Merged(Collector):
    """New runs' families, plus the other groups' samples from the existing file."""

    def __init__(self, new: RunsCollector, existing: list[Metric], reported: set[Group]) -> None:
        self._new = new
        self._existing = {family.name: family for family in existing}
        self._reported = reported

    def collect(self) -> Iterator[Metric]:
        seen = set()
        for family in self._new.collect():
            seen.add(family.name)
            family.samples.extend(self._others(family.name))
            yield family
        for name in METRIC_NAMES:
            old = self._existing.get(name)
            if name in seen or old is None:
                continue
            others = list(self._others(name))
            if others:
                family = Metric(old.name, old.documentation, old.type)
                family.samples = others
                yield family

    def _others(self, name: str) -> Iterator[Sample]:
        old = self._existing.get(name)
        if old is None:
            return
        for sample in old.samples:
            if _group(sample) not in self._reported:
                yield sample


def _group(sample: Sample) -> Group:
    labels = sample.labels
    return (labels.get("location", ""), labels.get("backend", ""), labels.get("operation", ""))
