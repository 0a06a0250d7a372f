"""What the benchmarks share: the commands they time, and one child run measured.

Each child is waited for with ``os.wait4``, which gives that child's own
resource usage (``RUSAGE_CHILDREN`` would be the maximum over every child
waited for so far). Times are wall-clock seconds from spawn to exit.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BASELINE_IMPORT = (sys.executable, "-c", "import prometheus_client")


@dataclass(frozen=True, slots=True)
class ChildRun:
    """One finished child: wall time, peak resident memory, exit code, what it printed."""

    seconds: float
    max_rss_bytes: int
    returncode: int
    stdout: bytes
    stderr: bytes


def child_environment() -> dict[str, str]:
    """The environment for measured children: this checkout's pushrestic comes first,
    whatever checkout the installed (editable) package points at."""
    environment = dict(os.environ)
    paths = [str(REPO), *filter(None, environment.get("PYTHONPATH", "").split(os.pathsep))]
    environment["PYTHONPATH"] = os.pathsep.join(paths)
    return environment


def pushrestic_command() -> tuple[str, ...]:
    """The installed console script of this interpreter (not a pyenv shim), else ``-m``."""
    script = Path(sys.executable).parent / "pushrestic"
    if script.is_file():
        return (str(script),)
    found = shutil.which("pushrestic")
    if found is not None and "shims" not in Path(found).parts:
        return (found,)
    return (sys.executable, "-m", "pushrestic")


# A small process that starts the measured one and waits for it. The measured
# child's peak memory must not start from the benchmark's own: on Linux a child
# inherits its parent's peak through fork and exec, so the parent must be small.
_SPAWNER = """
import os, sys, time
result, argv = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.posix_spawnp(argv[0], argv, os.environ)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - start
with open(result, "w") as stream:
    stream.write(f"{seconds!r} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""


def run_child(argv: Sequence[str]) -> ChildRun:
    """Run ``argv`` to completion, measured by a small spawner process.

    stdout is captured, stderr kept in a temporary file; the time runs from the
    spawn to the exit, without the spawner's own start.
    """
    with tempfile.TemporaryDirectory() as scratch:
        result = Path(scratch) / "result"
        errors_path = Path(scratch) / "stderr"
        with errors_path.open("wb") as errors:
            spawner = (sys.executable, "-I", "-S", "-c", _SPAWNER, str(result), *argv)
            done = subprocess.run(
                spawner, stdout=subprocess.PIPE, stderr=errors, env=child_environment(), check=False
            )
        if done.returncode != 0 or not result.exists():
            raise RuntimeError(f"could not run {argv[0]}: {errors_path.read_text()[-2000:]}")
        seconds, max_rss_kb, returncode = result.read_text().split()
        return ChildRun(
            float(seconds),
            int(max_rss_kb) * 1024,
            int(returncode),
            done.stdout,
            errors_path.read_bytes(),
        )


def warm(path: Path) -> None:
    """Read a file once so that the timed runs find it in the page cache."""
    with path.open("rb") as stream:
        while stream.read(1 << 23):
            pass


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"
