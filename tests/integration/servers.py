"""Real Prometheus servers for integration tests, and pushrestic run against them.

* :class:`Pushgateway` and :class:`NodeExporter` - the Debian binaries started
  on a free loopback port, each with a log file; ``start()`` waits (with a
  bound) until the server answers, ``stop()`` terminates it (and kills it after
  a bound), ``restart()`` does both on the same port and the same persistence
  file or textfile directory. Use them as context managers, or through the
  ``started_*`` helpers that test modules wrap in fixtures.
* :class:`Exposition` - a ``/metrics`` text parsed by prometheus_client's
  parser, with look-ups by metric name and labels.
* :func:`pushrestic` / :func:`start_pushrestic` - ``python -m pushrestic`` through
  :mod:`tests.cli`, with a spool directory of the test's own.
* :func:`sample_log` - a copy of a sample log whose mtime (which pushrestic
  takes as the run's end) is the time a test chooses.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Self

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests import cli
from tests.conftest import SAMPLES, require_binary

START_TIMEOUT = 15.0  # seconds for a server to answer after it was started
STOP_TIMEOUT = 10.0  # seconds for a server to end after SIGTERM, before SIGKILL
HTTP_TIMEOUT = 5.0  # seconds per request the tests make themselves
PUSHRESTIC_TIMEOUT = cli.TIMEOUT  # seconds for one pushrestic process

SUCCESS_LOG = "restic-0.14-backup-text-initial.log"  # exit 0, files/dirs/bytes series
FAILURE_LOG = "restic-0.14-backup-fail-wrongpassword.log"  # Fatal, no snapshot
AUTORESTIC_LOG = "autorestic-1.8.3-backup-multi.reconstructed.log"  # four groups
AUTORESTIC_GROUPS = frozenset(
    {("documents", "local"), ("documents", "usb"), ("config", "local"), ("mixed", "local")}
)
SeriesKey = tuple[str, frozenset[tuple[str, str]]]
# For pushes that are meant to fail fast against a gateway that is down.
QUICK = ("--attempts", "1", "--deadline", "5", "--timeout", "2")

# A direct opener: a proxy from the environment must never stand between a test and
# the server it started on the loopback interface.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# Ports for the servers the tests start: below Linux's ephemeral range (32768-60999
# by default), so that no outgoing connection (of this or any other process) takes
# one between free_port() and the server's bind. Parallel workers (pytest-xdist)
# each take their own slice, so that two workers never pick the same port.
PORTS = range(10000, 32000)


def worker_ports(worker: str, count: int) -> range:
    """The slice of PORTS of xdist worker ``worker`` ("gw0", "gw1", ...) of ``count``."""
    size = len(PORTS) // count
    start = PORTS.start + int(worker.removeprefix("gw")) * size
    return range(start, start + size)


# This process's slice: all of PORTS unless it is one of several workers.
_PORTS = worker_ports(
    os.environ.get("PYTEST_XDIST_WORKER", "gw0"),
    int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")),
)
# Handed out in turn from a random start, so that a port a previous run left in
# TIME_WAIT is not the first one tried again.
_FIRST = random.randrange(len(_PORTS))
_next_ports = itertools.cycle(itertools.chain(_PORTS[_FIRST:], _PORTS[:_FIRST]))


def free_port() -> int:
    """A TCP port of this process's slice that nothing is bound to on 127.0.0.1, and
    that this process has not handed out before (until it has gone round its slice)."""
    for _ in _PORTS:
        port = next(_next_ports)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise AssertionError(f"no free port in {_PORTS} on 127.0.0.1")


def http_get(url: str, timeout: float = HTTP_TIMEOUT) -> bytes:
    """The body of a 2xx answer to ``GET url``; raises urllib's errors otherwise."""
    with _OPENER.open(url, timeout=timeout) as response:
        body: bytes = response.read()
        return body


# -- servers ------------------------------------------------------------------


class Server:
    """One server process on a fixed loopback port; started and stopped by the test."""

    ready_path = "/"

    def __init__(self, binary: str, workdir: Path, port: int | None = None) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = port if port is not None else free_port()
        self.log_path = workdir / f"{Path(binary).name}-{self.port}.log"
        self._process: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)

    scheme = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        """Whether the server answers ``GET ready_path`` with 2xx (overridable)."""
        try:
            http_get(self.url + self.ready_path, timeout=1.0)
        except (OSError, urllib.error.URLError):
            return False
        return True

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def arguments(self) -> list[str]:
        raise NotImplementedError

    def listen_arguments(self) -> list[str]:
        """The flag that makes the server listen on ``127.0.0.1:port`` (overridable)."""
        return [f"--web.listen-address=127.0.0.1:{self.port}"]

    def start(self) -> Self:
        """Start the server and return once :meth:`ready` (bounded)."""
        assert not self.running, f"{self.binary} is already running"
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [self.binary, *self.listen_arguments(), *self.arguments()],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            code = self._process.poll()
            if code is not None:
                raise AssertionError(f"{self.binary} exited with {code}:\n{self.log()}")
            if self.ready():
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(
                    f"{self.binary} did not answer within {START_TIMEOUT} s:\n{self.log()}"
                )
            time.sleep(0.02)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if the server is not gone within STOP_TIMEOUT."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def scrape(self) -> Exposition:
        """``GET /metrics``, parsed."""
        return Exposition.parse(http_get(self.url + "/metrics").decode("utf-8"))

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Pushgateway(Server):
    """``prometheus-pushgateway`` with a persistence file written every second."""

    ready_path = "/-/ready"

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        super().__init__(require_binary("prometheus-pushgateway"), workdir, port)
        self.persistence_file = workdir / "pg.db"

    def arguments(self) -> list[str]:
        return [f"--persistence.file={self.persistence_file}", "--persistence.interval=1s"]

    def api_groups(self) -> list[dict[str, Any]]:
        """The groups as ``/api/v1/metrics`` shows them."""
        document = json.loads(http_get(self.url + "/api/v1/metrics"))
        assert document["status"] == "success", document
        groups: list[dict[str, Any]] = document["data"]
        return groups

    def group_labels(self, job: str = "restic") -> list[dict[str, str]]:
        """The grouping labels (job included) of every group of ``job``."""
        return [g["labels"] for g in self.api_groups() if g["labels"].get("job") == job]

    def api_group(self, **labels: str) -> dict[str, Any] | None:
        """The API's group whose grouping labels are exactly ``labels``, or None."""
        matches = [g for g in self.api_groups() if g["labels"] == labels]
        assert len(matches) <= 1, matches
        return matches[0] if matches else None

    def pushed(self, job: str = "restic") -> Exposition:
        """The series of ``job`` in ``/metrics`` (without the gateway's own series)."""
        return self.scrape().where(job=job)


class NodeExporter(Server):
    """``prometheus-node-exporter`` with only the textfile collector, reading ``directory``."""

    ready_path = "/metrics"

    def __init__(self, workdir: Path, directory: Path, port: int | None = None) -> None:
        super().__init__(require_binary("prometheus-node-exporter"), workdir, port)
        self.directory = directory

    def arguments(self) -> list[str]:
        return [
            "--collector.disable-defaults",
            "--collector.textfile",
            f"--collector.textfile.directory={self.directory}",
        ]


@contextmanager
def started_pushgateway(workdir: Path) -> Iterator[Pushgateway]:
    with Pushgateway(workdir) as gateway:
        yield gateway


@contextmanager
def started_node_exporter(workdir: Path, directory: Path) -> Iterator[NodeExporter]:
    with NodeExporter(workdir, directory) as exporter:
        yield exporter


# -- reading back what arrived ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Exposition:
    """The samples of one exposition text, as prometheus_client's parser reads them."""

    samples: tuple[Sample, ...]

    @classmethod
    def parse(cls, text: str) -> Exposition:
        return cls(
            tuple(
                sample
                for family in text_string_to_metric_families(text)
                for sample in family.samples
            )
        )

    def where(self, **labels: str) -> Exposition:
        """Only the samples that carry all of ``labels``."""
        return Exposition(tuple(s for s in self.samples if _has(s, labels)))

    def find(self, name: str, **labels: str) -> list[Sample]:
        """The samples called ``name`` that carry all of ``labels``."""
        return [s for s in self.samples if s.name == name and _has(s, labels)]

    def value(self, name: str, **labels: str) -> float | None:
        """The value of the one sample that matches, or None when none does."""
        found = self.find(name, **labels)
        assert len(found) <= 1, f"{name} {labels}: {len(found)} samples match: {found}"
        return found[0].value if found else None

    def names(self, **labels: str) -> set[str]:
        return {s.name for s in self.samples if _has(s, labels)}

    def groups(self, *names: str) -> set[tuple[str, ...]]:
        """The distinct values of the labels ``names`` (default: location, backend)."""
        names = names or ("location", "backend")
        return {
            tuple(s.labels.get(n, "") for n in names)
            for s in self.samples
            if all(n in s.labels for n in names)
        }

    def series(self, *, without: Sequence[str] = ()) -> dict[SeriesKey, float]:
        """{(name, labels): value}, leaving out the metrics named in ``without``."""
        return {
            (s.name, frozenset(s.labels.items())): s.value
            for s in self.samples
            if s.name not in without
        }


def _has(sample: Sample, labels: dict[str, str]) -> bool:
    return all(sample.labels.get(k) == v for k, v in labels.items())


# -- pushrestic ---------------------------------------------------------------


def environment(spool: Path) -> dict[str, str]:
    """The test's environment for pushrestic (see :mod:`tests.cli`), ``spool`` as the spool."""
    return cli.environment({"PUSHRESTIC_SPOOL_DIR": str(spool)})


def start_pushrestic(*args: str, spool: Path) -> cli.Running:
    """Start ``python -m pushrestic ARGS`` with ``spool`` as its spool; ``.finish()`` it."""
    return cli.start(*args, env={"PUSHRESTIC_SPOOL_DIR": str(spool)})


def pushrestic(
    *args: str,
    spool: Path,
    stdin: int | IO[bytes] | None = subprocess.DEVNULL,
    timeout: float = PUSHRESTIC_TIMEOUT,
) -> cli.Ran:
    """Run ``python -m pushrestic ARGS`` to its end with ``spool`` as its spool."""
    return cli.pushrestic(
        *args, stdin=stdin, env={"PUSHRESTIC_SPOOL_DIR": str(spool)}, timeout=timeout
    )


def sample_log(name: str, directory: Path, ended_at: float, as_name: str | None = None) -> Path:
    """A copy of the sample log ``name`` in ``directory`` whose run ended at ``ended_at``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (as_name or f"{ended_at:.0f}-{name}")
    shutil.copyfile(SAMPLES / name, path)
    os.utime(path, (ended_at, ended_at))
    return path


def spooled(spool: Path) -> list[Path]:
    """The spool's entries (one JSON file per group)."""
    return sorted(spool.glob("*.json")) if spool.is_dir() else []


# -- remote-write receivers ----------------------------------------------------

QUERY_TIMEOUT = 20.0  # seconds for written samples to show in a database's query API


class QueryAPI:
    """The Prometheus query API (``/api/v1/query``) of a database a test writes to."""

    @property
    def url(self) -> str:
        raise NotImplementedError

    def query(self, expr: str, at: float | None = None) -> list[tuple[dict[str, str], float]]:
        """The instant vector ``expr`` evaluates to (now, or at ``at``): (labels, value) pairs."""
        from urllib.parse import urlencode

        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        document = json.loads(http_get(f"{self.url}/api/v1/query?{urlencode(params)}"))
        assert document["status"] == "success", document
        data = document["data"]
        assert data["resultType"] == "vector", data
        return [(dict(r["metric"]), float(r["value"][1])) for r in data["result"]]

    def wait_for(
        self, expr: str, count: int = 1, timeout: float = QUERY_TIMEOUT
    ) -> list[tuple[dict[str, str], float]]:
        """``query(expr)`` once it returns at least ``count`` series (samples written a
        moment ago may take a second or two to be searchable); fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.query(expr)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{expr}: {len(found)} series after {timeout} s: {found}")
            time.sleep(0.2)

    def series(self, expr: str, count: int) -> dict[SeriesKey, float]:
        """{(name, labels without __name__): value} of ``expr``, waited for (``count`` series)."""
        return {
            (labels.pop("__name__"), frozenset(labels.items())): value
            for labels, value in self.wait_for(expr, count)
        }


class VictoriaMetrics(Server, QueryAPI):
    """``victoria-metrics`` (single node) with its own storage directory; remote-write at
    ``write_url``. Samples are searchable as soon as they are written
    (``-search.latencyOffset=0s``), after the second or so the storage takes to flush."""

    ready_path = "/health"

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        super().__init__(require_binary("victoria-metrics"), workdir, port)
        self.storage = workdir / "vm-data"

    @property
    def write_url(self) -> str:
        return f"{self.url}/api/v1/write"

    def listen_arguments(self) -> list[str]:
        return [f"-httpListenAddr=127.0.0.1:{self.port}"]

    def arguments(self) -> list[str]:
        return [
            f"-storageDataPath={self.storage}",
            "-retentionPeriod=100y",
            "-search.latencyOffset=0s",
            "-search.disableCache",
        ]


class PrometheusReceiver(Server, QueryAPI):
    """``prometheus`` with the remote-write receiver on, scraping nothing, its own TSDB."""

    ready_path = "/-/ready"

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        super().__init__(require_binary("prometheus"), workdir, port)
        self.config_file = workdir / "prometheus-receiver.yml"
        self.config_file.write_text("global: {}\n")

    @property
    def write_url(self) -> str:
        return f"{self.url}/api/v1/write"

    def arguments(self) -> list[str]:
        return [
            f"--config.file={self.config_file}",
            f"--storage.tsdb.path={self.workdir / 'prometheus-data'}",
            "--web.enable-remote-write-receiver",
        ]


Receiver = VictoriaMetrics | PrometheusReceiver
