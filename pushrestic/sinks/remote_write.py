"""The remote-write sink: each group's series written to a time-series database.

Prometheus remote-write 1.0 (one snappy-compressed protobuf ``WriteRequest`` per group) to
Prometheus, VictoriaMetrics, vmagent, Mimir, Thanos Receive or Grafana Alloy. Samples are
stamped when delivered; every series of :data:`ALWAYS` is written, at :data:`UNKNOWN` when
the run does not know it. ``cramjam`` (the ``remote-write`` extra) is imported only when a
report is sent. Why: docs/design/sinks-remote-write.md.
"""

from __future__ import annotations

import math
import re
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from urllib.parse import urlsplit

from prometheus_client.core import Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from pushrestic.errors import UsageError
from pushrestic.metrics import CATALOGUE, RunsCollector
from pushrestic.model import Run
from pushrestic.sinks.pushgateway.http import (
    RetryPolicy,
    Transport,
    has_user_info,
    redact_url,
    send,
)
from pushrestic.sinks.remote_write_proto import Metadata, Series, labels_of, write_request

SINK = "remote-write"
UNKNOWN = -1.0
"""The value written for a series whose value the run does not know."""

PROTOCOL_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Encoding", "snappy"),
    ("Content-Type", "application/x-protobuf"),
    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
)
# Headers the user may not set: the protocol's, and those the transport sets itself.
_FIXED_HEADERS = frozenset(
    name.lower()
    for name in (
        *(name for name, _ in PROTOCOL_HEADERS),
        "Content-Length",
        "Host",
        "Transfer-Encoding",
        "Connection",
        "User-Agent",
    )
)
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an HTTP header name (RFC 9110)

_STATES = (("new",), ("changed",), ("unmodified",))
_ONE: tuple[tuple[str, ...], ...] = ((),)
ALWAYS: Mapping[str | None, tuple[tuple[str, tuple[tuple[str, ...], ...]], ...]] = {
    None: (  # a backup
        ("restic_backup_success", _ONE),
        ("restic_backup_exit_code", _ONE),
        ("restic_backup_last_run_timestamp_seconds", _ONE),
        ("restic_backup_duration_seconds", _ONE),
        ("restic_backup_files", _STATES),
        ("restic_backup_dirs", _STATES),
        ("restic_backup_blobs", (("data",), ("tree",))),
        ("restic_backup_processed_files", _ONE),
        ("restic_backup_processed_bytes", _ONE),
        ("restic_backup_added_bytes", _ONE),
        ("restic_backup_added_stored_bytes", _ONE),
        ("restic_backup_errors", _ONE),
    ),
    "forget": (
        ("restic_forget_kept_snapshots", _ONE),
        ("restic_forget_removed_snapshots", _ONE),
    ),
    "prune": (
        ("restic_prune_removed_blobs", _ONE),
        ("restic_prune_freed_bytes", _ONE),
        ("restic_prune_repacked_bytes", _ONE),
        ("restic_prune_unused_bytes", _ONE),
        ("restic_repository_size_bytes", _ONE),
    ),
    "check": (
        ("restic_check_success", _ONE),
        ("restic_check_errors", _ONE),
        ("restic_check_last_run_timestamp_seconds", _ONE),
    ),
}
"""The series each kind of group (by its ``operation``; None: a backup) writes on
every report: metric name, and the values of its own labels (state, type) for
each series. Series whose labels name what a run found (``restic_backup_info``'s
snapshot, ``restic stats`` modes, ``restic snapshots`` groups, a unit's steps)
are written as the run has them."""


@dataclass(frozen=True, slots=True)
class RemoteWrite:
    """Where to write, under which job and instance; ``grouping`` adds labels to every
    series, as the Pushgateway's grouping key does; ``headers`` are sent with every
    request (``X-Scope-OrgID: tenant``)."""

    url: str
    job: str = "restic"
    instance: str = ""
    grouping: Mapping[str, str] = field(default_factory=dict)
    headers: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if has_user_info(self.url):
            raise UsageError(
                "remote-write URL: put no user or password in the URL (`ps` would show it); "
                "use --basic-auth-user with PUSHRESTIC_PASSWORD or --password-file"
            )
        try:
            parts = urlsplit(self.url)
            valid = parts.scheme in ("http", "https") and bool(parts.hostname)
            valid = valid and parts.port != 0  # .port raises beyond 65535 or for a non-number
        except ValueError:
            valid = False
        if not valid:
            raise UsageError(
                f"remote-write URL {redact_url(self.url)!r}: expected "
                "http(s)://host[:port]/path (such as /api/v1/write)"
            )
        if not self.job:
            raise UsageError("the job name may not be empty")
        for name, value in self.headers:
            check_header(name, value)

    @property
    def base(self) -> str:
        """The URL as compared with a spooled report's (no trailing slash)."""
        return self.url.rstrip("/")

    def key(self, location: str, backend: str, operation: str | None = None) -> dict[str, str]:
        """The labels (without job) that name one group, as the Pushgateway's grouping key."""
        key = {"instance": self.instance, **self.grouping, "location": location, "backend": backend}
        if operation is not None:
            key["operation"] = operation
        return key


def parse_header(text: str) -> tuple[str, str]:
    """``'X-Scope-OrgID: tenant'`` -> ``('X-Scope-OrgID', 'tenant')``. Raises UsageError."""
    name, colon, value = text.partition(":")
    if not colon:
        raise UsageError(f"header {text!r}: expected 'NAME: VALUE'")
    name, value = name.strip(), value.strip()
    check_header(name, value)
    return name, value


def check_header(name: str, value: str) -> None:
    """Raise UsageError unless ``name: value`` is a header the user may add."""
    if not _TOKEN.fullmatch(name):
        raise UsageError(f"header name {name!r}: not a valid HTTP header name")
    if name.lower() in _FIXED_HEADERS:
        raise UsageError(f"header {name}: set by pushrestic itself, may not be given")
    if name.lower() == "authorization":
        raise UsageError(
            "header Authorization: use --basic-auth-user with a password, or a bearer token "
            "file (PUSHRESTIC_BEARER_TOKEN_FILE), which stay out of `ps`"
        )
    if any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in value):
        raise UsageError(f"header {name}: its value holds a control character")


# -- what a report holds ------------------------------------------------------------


def render(run: Run, labels: Mapping[str, str] | None = None) -> bytes:
    """One group's report as exposition text: the series of ``run``, and every series of
    :data:`ALWAYS` for its kind that the run does not fill, at :data:`UNKNOWN`."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Filled(run, labels or {}))
    return generate_latest(registry)


class _Filled(Collector):
    """The catalogue's families of one run, each series of ALWAYS present."""

    def __init__(self, run: Run, labels: Mapping[str, str]) -> None:
        self._run = run
        self._labels = dict(sorted(labels.items()))

    def collect(self) -> Iterator[Metric]:
        run = self._run
        families = {family.name: family for family in RunsCollector([run], self._labels).collect()}
        wanted = dict(ALWAYS.get(run.operation, ()))
        base = {"location": run.location, "backend": run.backend}
        if run.operation is not None:
            base["operation"] = run.operation
        base.update(self._labels)
        for spec in CATALOGUE:
            family = families.get(spec.name)
            extras = wanted.get(spec.name, ())
            if extras and family is None:
                family = Metric(spec.name, spec.help, "gauge")
            if family is None:
                continue
            have = {tuple(s.labels.get(name, "") for name in spec.labels) for s in family.samples}
            for extra in extras:
                if extra not in have:
                    labels = {**base, **dict(zip(spec.labels, extra, strict=True))}
                    family.add_sample(spec.name, labels, UNKNOWN)
            yield family


# -- sending ------------------------------------------------------------------------


def series_of(
    body: bytes, target: RemoteWrite, key: Mapping[str, str], timestamp_ms: int
) -> tuple[list[Series], list[Metadata]]:
    """The series of one group's exposition text, each with ``job`` and the grouping
    labels of ``key`` (which win over a series' own, as on the Pushgateway), stamped
    ``timestamp_ms``; and each family's help. Empty label values are left out."""
    from prometheus_client.parser import text_string_to_metric_families

    added = {**key, "job": target.job}
    series = []
    metadata = []
    for family in text_string_to_metric_families(body.decode("utf-8")):
        metadata.append(Metadata(family.name, family.documentation))
        for sample in family.samples:
            labels = {**sample.labels, **added, "__name__": sample.name}
            series.append(Series(labels_of(tuple(labels.items())), sample.value, timestamp_ms))
    return series, metadata


def encode(series: Sequence[Series], metadata: Sequence[Metadata] = ()) -> bytes:
    """The snappy-compressed (block format) ``WriteRequest``."""
    return bytes(_snappy().compress_raw(write_request(series, metadata)))


def write_group(
    transport: Transport,
    target: RemoteWrite,
    key: Mapping[str, str],
    body: bytes,
    policy: RetryPolicy,
    *,
    at: float | None = None,
) -> int:
    """POST one group's series, stamped ``at`` (Unix seconds; default: now), retried
    under ``policy``. Returns the size of the request's body. Raises PushError."""
    moment = time.time() if at is None else at
    if not math.isfinite(moment):
        raise ValueError(f"not a time: {moment!r}")
    series, metadata = series_of(body, target, key, int(moment * 1000))
    data = encode(series, metadata)
    headers = (*PROTOCOL_HEADERS, *target.headers)
    send(
        lambda timeout: transport.request(
            "POST", target.url, timeout=timeout, headers=headers, data=data
        ),
        policy,
        what=f"remote write of group {','.join(f'{k}={v!r}' for k, v in key.items())}",
    )
    return len(data)


def require_snappy() -> None:
    """Raise UsageError when the snappy library is not installed."""
    _snappy()


def _snappy() -> ModuleType:
    try:
        from cramjam import snappy
    except ImportError:
        # The interpreter pushrestic runs on is its environment's (pipx's, a venv's):
        # installing there is what makes cramjam importable here.
        raise UsageError(
            "remote-write needs the cramjam package in pushrestic's environment: "
            f"{sys.executable} -m pip install 'cramjam>=2.8'"
        ) from None
    return snappy
