"""A fleet through one server: a Pushgateway, or a database written by remote-write.

10,000 groups (2,500 hosts x 4 locations, one restic backup run each, the series
of ``tests/fixtures/samples/restic-0.14-backup-text-initial.log``) held by

(a) a Pushgateway (``prometheus-pushgateway``),
(b) a Pushgateway started with ``--push.disable-consistency-check``,
(c) VictoriaMetrics (single node), written by remote-write,
(d) Prometheus' remote-write receiver.

Each server is first loaded with every group by the fastest way it has (a and b:
a file of the groups persisted by a gateway that did not check them, so that
loading 10,000 groups does not take hours; c and d: remote-write, through
pushrestic's sink, four at a time). Then ``--samples`` reports of hosts spread
over the fleet are delivered one after another, each through pushrestic's own
delivery code (``Deliverer.push``: render, spool bookkeeping, a new HTTP
session, the request, as ``pushrestic push`` does once its log is parsed), each
host's spool already knowing its group's last success, as it does from the
second report on. Timed per report: median and 99th percentile. Then a and b
are scraped three times (size and time of ``GET /metrics``), c and d answer one
query over every group, and the server's resident memory is read from
``/proc/PID/status`` (VmRSS, and VmHWM, its peak).

Every figure is printed as a ratio to (a)'s, measured in the same run.
Goal: (c) at least 100x faster per report than (a), with at most a third of its
memory.

Run: ``python3 -m bench.fleet [--groups 10000] [--samples 100] [--modes abcd]``
from the repository root. Needs prometheus-pushgateway, victoria-metrics and
prometheus (Debian packages) and the ``remote-write`` extra (cramjam).
"""

from __future__ import annotations

import argparse
import math
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # this checkout's pushrestic, whatever is installed
    sys.path.insert(0, str(ROOT))

from pushrestic.collect import InputSpec, collect_runs  # noqa: E402
from pushrestic.model import Run  # noqa: E402
from pushrestic.sinks import remote_write  # noqa: E402
from pushrestic.sinks.pushgateway.deliver import Deliverer, PushSettings  # noqa: E402
from pushrestic.sinks.pushgateway.grouping import Gateway, push_group  # noqa: E402
from pushrestic.sinks.pushgateway.http import (  # noqa: E402
    RetryPolicy,
    SessionTransport,
    TransportSettings,
)
from pushrestic.sinks.pushgateway.spool import PUSHGATEWAY, REMOTE_WRITE, Spool, group_id  # noqa: E402
from pushrestic.sinks.textfile import render  # noqa: E402

SAMPLE = ROOT / "tests" / "fixtures" / "samples" / "restic-0.14-backup-text-initial.log"
LOCATIONS = ("documents", "mail", "photos", "config")
BACKEND = "local"
START_TIMEOUT = 120.0  # a Pushgateway loading 10,000 groups from its file takes a while
POLICY = RetryPolicy(attempts=1, deadline=600.0, timeout=300.0)
MODES = {
    "a": "Pushgateway",
    "b": "Pushgateway, no consistency check",
    "c": "VictoriaMetrics, remote-write",
    "d": "Prometheus, remote-write",
}


@dataclass(slots=True)
class Figures:
    """What one mode measured."""

    mode: str
    load_seconds: float = 0.0
    reports: list[float] = field(default_factory=list)
    rss_mb: float = float("nan")
    peak_mb: float = float("nan")
    scrape_bytes: float = float("nan")
    scrape_seconds: float = float("nan")

    @property
    def median(self) -> float:
        return statistics.median(self.reports)

    @property
    def p99(self) -> float:
        if len(self.reports) < 2:
            return self.reports[0]
        return statistics.quantiles(self.reports, n=100, method="inclusive")[98]


# -- servers --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        sys.exit(f"{name} is not installed")
    return found


@contextmanager
def server(
    argv: Sequence[str], url: str, ready: str, workdir: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``argv``, wait until ``url + ready`` answers, stop it (SIGTERM) afterwards."""
    with (workdir / f"{Path(argv[0]).name}.log").open("ab") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                urllib.request.urlopen(url + ready, timeout=2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"{argv[0]} did not start: see {workdir}")
                time.sleep(0.1)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of ``pid`` in MB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0]) / 1024
    return found["VmRSS"], found["VmHWM"]


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=300) as answer:
        body: bytes = answer.read()
        return body


# -- the fleet ------------------------------------------------------------------


def fleet(groups: int) -> list[tuple[str, str]]:
    """(host, location) of every group: hosts of four locations each."""
    hosts = max(1, groups // len(LOCATIONS))
    return [
        (f"host-{index:05d}", location)
        for index in range(hosts)
        for location in LOCATIONS[: min(len(LOCATIONS), groups)]
    ][:groups]


def sampled(everyone: Sequence[tuple[str, str]], count: int) -> list[tuple[str, str]]:
    """``count`` groups spread evenly over the fleet."""
    step = max(1, len(everyone) // count)
    return list(everyone[::step][:count])


def run_of(template: Run, location: str) -> Run:
    return replace(template, location=location, backend=BACKEND)


def load(
    write: Callable[[str, str], None], everyone: Sequence[tuple[str, str]], threads: int = 4
) -> float:
    """Write every group with ``write(host, location)``, ``threads`` at a time: seconds."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(lambda group: write(*group), everyone))
    return time.perf_counter() - started


def timed_reports(
    target: Callable[[str], Gateway | remote_write.RemoteWrite],
    template: Run,
    chosen: Sequence[tuple[str, str]],
    spools: Path,
) -> list[float]:
    """Deliver one report per chosen group, one after another, as pushrestic does: seconds each."""
    seconds = []
    for host, location in chosen:
        run = run_of(template, location)
        sink = target(host)
        spool_dir = spools / host
        key = sink.key(location, BACKEND)
        kind = PUSHGATEWAY if isinstance(sink, Gateway) else REMOTE_WRITE
        # The steady state: the host's spool knows its group's last success from the
        # report before (else, on a Pushgateway, pushrestic would ask the gateway for it).
        Spool(spool_dir).ledger.record_success(
            group_id(sink.url, sink.job, key, kind), run.last_success_at
        )
        started = time.perf_counter()
        deliverer = Deliverer(PushSettings(sink, spool_dir, policy=POLICY))
        deliverer.push([run], {})
        seconds.append(time.perf_counter() - started)
        if not deliverer.result.complete:
            sys.exit(f"a report of {host}/{location} was not delivered: {deliverer.result.errors}")
    return seconds


# -- the modes ------------------------------------------------------------------


def persisted_gateway(
    template: Run, everyone: Sequence[tuple[str, str]], workdir: Path
) -> tuple[Path, float]:
    """A Pushgateway persistence file holding every group (written by a gateway that does
    not check consistency, and persists on SIGTERM); and the seconds loading it took."""
    path = workdir / "groups.persisted"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [
        binary("prometheus-pushgateway"),
        f"--web.listen-address=127.0.0.1:{port}",
        f"--persistence.file={path}",
        "--persistence.interval=1h",
        "--push.disable-consistency-check",
    ]
    transport = SessionTransport(TransportSettings())
    bodies = {location: render([run_of(template, location)], {}) for location in LOCATIONS}

    def write(host: str, location: str) -> None:
        gateway = Gateway(url, instance=host)
        push_group(transport, gateway, gateway.key(location, BACKEND), bodies[location], POLICY)

    with server(argv, url, "/-/ready", workdir):
        seconds = load(write, everyone)
    return path, seconds


def gateway_mode(
    mode: str,
    template: Run,
    persisted: Path,
    chosen: Sequence[tuple[str, str]],
    workdir: Path,
) -> Figures:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    copy = workdir / "groups.persisted"
    shutil.copyfile(persisted, copy)
    argv = [
        binary("prometheus-pushgateway"),
        f"--web.listen-address=127.0.0.1:{port}",
        f"--persistence.file={copy}",
        "--persistence.interval=1h",
    ]
    if mode == "b":
        argv.append("--push.disable-consistency-check")
    figures = Figures(mode)
    with server(argv, url, "/-/ready", workdir) as process:
        figures.reports = timed_reports(
            lambda host: Gateway(url, instance=host), template, chosen, workdir / "spools"
        )
        sizes, times = [], []
        for _ in range(3):  # as Prometheus would scrape it
            started = time.perf_counter()
            sizes.append(len(get(url + "/metrics")))
            times.append(time.perf_counter() - started)
        figures.scrape_bytes = statistics.median(sizes)
        figures.scrape_seconds = statistics.median(times)
        figures.rss_mb, figures.peak_mb = memory_mb(process.pid)
    return figures


def database_mode(
    mode: str,
    template: Run,
    everyone: Sequence[tuple[str, str]],
    chosen: Sequence[tuple[str, str]],
    workdir: Path,
) -> Figures:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    if mode == "c":
        argv = [
            binary("victoria-metrics"),
            f"-httpListenAddr=127.0.0.1:{port}",
            f"-storageDataPath={workdir / 'data'}",
            "-retentionPeriod=100y",
        ]
        ready = "/health"
    else:
        config = workdir / "prometheus.yml"
        config.write_text("global: {}\n")
        argv = [
            binary("prometheus"),
            f"--web.listen-address=127.0.0.1:{port}",
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            "--web.enable-remote-write-receiver",
        ]
        ready = "/-/ready"
    write_url = f"{url}/api/v1/write"
    transport = SessionTransport(TransportSettings())
    bodies = {location: remote_write.render(run_of(template, location)) for location in LOCATIONS}

    def write(host: str, location: str) -> None:
        target = remote_write.RemoteWrite(write_url, instance=host)
        key = target.key(location, BACKEND)
        remote_write.write_group(transport, target, key, bodies[location], POLICY)

    figures = Figures(mode)
    with server(argv, url, ready, workdir) as process:
        figures.load_seconds = load(write, everyone)
        figures.reports = timed_reports(
            lambda host: remote_write.RemoteWrite(write_url, instance=host),
            template,
            chosen,
            workdir / "spools",
        )
        query = urllib.parse.urlencode(
            {"query": "count(last_over_time(restic_backup_success[1d]))"}
        )
        get(f"{url}/api/v1/query?{query}")
        figures.rss_mb, figures.peak_mb = memory_mb(process.pid)
    return figures


# -- output ---------------------------------------------------------------------


def ratio(value: float, base: float) -> str:
    if math.isnan(base) or math.isnan(value) or base == 0:
        return ""
    return f"({value / base:.3g}x)"


def table(results: dict[str, Figures], groups: int) -> None:
    base = results.get("a")
    rows: list[tuple[str, Callable[[Figures], float], Callable[[float], str]]] = [
        ("time per report, median", lambda f: f.median, lambda v: f"{v * 1000:.1f} ms"),
        ("time per report, p99", lambda f: f.p99, lambda v: f"{v * 1000:.1f} ms"),
        ("server RSS", lambda f: f.rss_mb, lambda v: f"{v:.0f} MB"),
        ("server peak RSS", lambda f: f.peak_mb, lambda v: f"{v:.0f} MB"),
        ("scrape size", lambda f: f.scrape_bytes, lambda v: f"{v / 1e6:.1f} MB"),
        ("scrape time", lambda f: f.scrape_seconds, lambda v: f"{v:.2f} s"),
    ]
    print(f"\nfleet: {groups} groups; ratios to (a) {MODES['a']}, measured in this run")
    header = ["figure", *(f"({m}) {MODES[m]}" for m in results)]
    lines = [header]
    for name, pick, show in rows:
        line = [name]
        for figures in results.values():
            value = pick(figures)
            if math.isnan(value):  # not measured for this mode
                line.append("-")
                continue
            shown = show(value)
            if base is not None and figures.mode != "a":
                shown += f" {ratio(value, pick(base))}"
            line.append(shown)
        lines.append(line)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
    if base is not None and "c" in results:
        c = results["c"]
        faster = base.median / c.median
        memory = c.rss_mb / base.rss_mb
        print(
            f"goal: (c) per report {faster:.0f}x faster than (a) (median; goal >= 100x) "
            f"{'ok' if faster >= 100 else 'MISSED'}; memory {memory:.2f} of (a)'s "
            f"(goal <= 0.33) {'ok' if memory <= 1 / 3 else 'MISSED'}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=10_000, help="default: %(default)s")
    parser.add_argument(
        "--samples", type=int, default=100, help="timed reports per mode (default: %(default)s)"
    )
    parser.add_argument("--modes", default="abcd", help="any of a, b, c, d (default: abcd)")
    args = parser.parse_args(argv)
    modes = [mode for mode in "abcd" if mode in args.modes]
    (template,) = collect_runs(InputSpec(str(SAMPLE), exit_code=0)).runs
    everyone = fleet(args.groups)
    chosen = sampled(everyone, min(args.samples, len(everyone)))
    results: dict[str, Figures] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pushrestic-fleet-") as directory:
        work = Path(directory)
        persisted: Path | None = None
        load_seconds = 0.0
        for mode in modes:
            workdir = work / mode
            workdir.mkdir()
            print(f"({mode}) {MODES[mode]}: {len(everyone)} groups ...", flush=True)
            if mode in "ab":
                if persisted is None:
                    persisted, load_seconds = persisted_gateway(template, everyone, work)
                    print(f"    loaded a gateway without checks in {load_seconds:.0f} s")
                figures = gateway_mode(mode, template, persisted, chosen, workdir)
                figures.load_seconds = load_seconds
            else:
                figures = database_mode(mode, template, everyone, chosen, workdir)
                print(f"    loaded in {figures.load_seconds:.0f} s")
            results[mode] = figures
            print(
                f"    {len(figures.reports)} reports: median {figures.median * 1000:.1f} ms, "
                f"p99 {figures.p99 * 1000:.1f} ms; RSS {figures.rss_mb:.0f} MB "
                f"(peak {figures.peak_mb:.0f} MB)",
                flush=True,
            )
    table(results, len(everyone))
    print(f"took {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
