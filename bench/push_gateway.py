"""Benchmarks of delivery to a real Pushgateway.

1. One push: ``pushrestic push LOG --gateway URL`` (a whole process: start-up,
   parse, one PUT) as a ratio to ``python3 -c "import prometheus_client,
   requests, tenacity"`` measured in the same run. Goal: at most 1.3x.
2. A fleet: 1,000 groups (a thousand hosts' runs) pushed into one real
   Pushgateway through pushrestic's own delivery code, one at a time and 8 at a
   time: groups per second, and the gateway's resident memory before and after.

Run: ``python3 bench/push_gateway.py [--runs 20] [--groups 1000]``. Needs
prometheus-pushgateway (Debian package). Prints one line per figure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "fixtures" / "samples" / "restic-0.14-backup-text-initial.log"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_gateway(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("prometheus-pushgateway")
    if binary is None:
        sys.exit("prometheus-pushgateway is not installed")
    port = free_port()
    process = subprocess.Popen(
        [binary, f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=workdir,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/-/ready", timeout=1).close()
            return process, url
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                sys.exit("the Pushgateway did not start")
            time.sleep(0.05)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def one_push(url: str, runs: int, workdir: Path) -> None:
    env = {**os.environ, "PUSHRESTIC_SPOOL_DIR": str(workdir / "spool")}
    push = [
        sys.executable,
        "-m",
        "pushrestic",
        "push",
        str(SAMPLE),
        "--gateway",
        url,
        "--location",
        "bench",
    ]
    baseline = [sys.executable, "-c", "import prometheus_client, requests, tenacity"]
    timed(push, env)  # warm the page cache and the gateway
    push_times, base_times = [], []
    for _ in range(runs):  # alternate, so that load on the machine hits both alike
        base_times.append(timed(baseline, env))
        push_times.append(timed(push, env))
    push_median, base_median = statistics.median(push_times), statistics.median(base_times)
    print(
        f"one push: {push_median * 1000:.0f} ms; import baseline: {base_median * 1000:.0f} ms; "
        f"ratio {push_median / base_median:.2f}x (goal <= 1.30x, median of {runs})"
    )


def fleet(groups: int, workdir: Path) -> None:
    """Each mode on a fresh gateway: the Pushgateway checks a push against every
    group it holds, so a gateway already holding 1,000 groups is slower."""
    sys.path.insert(0, str(ROOT))
    from pushrestic.collect import InputSpec, collect_runs
    from pushrestic.sinks.pushgateway.deliver import Deliverer, PushSettings
    from pushrestic.sinks.pushgateway.grouping import Gateway

    (run,) = collect_runs(InputSpec(str(SAMPLE))).runs

    for label, workers in (("sequential", 1), ("8 at a time", 8)):
        directory = workdir / label.replace(" ", "-")
        directory.mkdir()
        process, url = start_gateway(directory)
        try:

            def push(index: int, url: str = url, directory: Path = directory) -> None:
                host = f"host-{index:04d}"
                settings = PushSettings(Gateway(url, instance=host), directory / "spool" / host)
                deliverer = Deliverer(settings)
                deliverer.push([run], {})
                if not deliverer.result.complete:
                    raise SystemExit(f"push failed: {deliverer.result.errors}")

            before = rss_mb(process.pid)
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(push, range(groups)))
            elapsed = time.perf_counter() - started
            after = rss_mb(process.pid)
            print(
                f"fleet {label}: {groups} groups in {elapsed:.1f} s = {groups / elapsed:.0f} "
                f"groups/s; gateway memory {before:.0f} MB empty, {after:.0f} MB with {groups} "
                f"groups ({(after - before) * 1024 / groups:.1f} KiB per group)"
            )
        finally:
            process.terminate()
            process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--groups", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        process, url = start_gateway(workdir)
        try:
            one_push(url, args.runs, workdir)
        finally:
            process.terminate()
            process.wait(timeout=10)
        fleet(args.groups, workdir)


if __name__ == "__main__":
    main()
