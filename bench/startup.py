"""How long ``pushrestic push --dry-run`` takes on a small log, against importing prometheus_client.

Most runs of pushrestic read a log of a few lines, so what they cost is start-up:
the interpreter, the imports, the parse, the report. The baseline is a child
that only imports prometheus_client (which pushrestic cannot do without); the
figure printed is the ratio of the medians. Then ``python3 -X importtime`` shows
what pushrestic imports on that path beyond the baseline, biggest first.

Usage: python3 -m bench.startup [--repeat 30] [--top 12]
Goal: at most 1.3x the baseline.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import dataclass

from bench._common import (
    BASELINE_IMPORT,
    REPO,
    child_environment,
    median,
    pushrestic_command,
    run_child,
    verdict,
)

GOAL_RATIO = 1.3
LOG = REPO / "tests" / "fixtures" / "samples" / "restic-0.14-backup-text-initial.log"


@dataclass(frozen=True, slots=True)
class Imported:
    """One module in ``-X importtime`` output: its own and cumulative time (microseconds)."""

    name: str
    self_us: int
    cumulative_us: int


def import_times(argv: tuple[str, ...], runs: int) -> dict[str, Imported]:
    """Each module imported by ``argv`` (a Python command), with its least time over runs.

    A module can be listed twice in one run (once more when a package is entered
    again through an import cycle); its times in a run are added up.
    """
    best: dict[str, Imported] = {}
    for _ in range(runs):
        done = subprocess.run(
            (sys.executable, "-X", "importtime", *argv),
            capture_output=True,
            text=True,
            env=child_environment(),
            check=False,
        )
        run: dict[str, Imported] = {}
        for line in done.stderr.splitlines():
            if not line.startswith("import time:") or "cumulative" in line:
                continue
            own, cumulative, name = line.removeprefix("import time:").split("|")
            seen = run.get(name.strip(), Imported(name.strip(), 0, 0))
            run[seen.name] = Imported(
                seen.name, seen.self_us + int(own), max(seen.cumulative_us, int(cumulative))
            )
        for name, module in run.items():
            if name not in best or module.self_us < best[name].self_us:
                best[name] = module
    return best


def python_argv(command: tuple[str, ...]) -> tuple[str, ...]:
    """The command's arguments after the interpreter (a console script is a Python file)."""
    return command[1:] if command[0] == sys.executable else command


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=30, help="runs of each (default: 30)")
    parser.add_argument("--top", type=int, default=12, help="imports to list (default: 12)")
    args = parser.parse_args()
    command = (*pushrestic_command(), "push", "--dry-run", str(LOG))
    bare = (sys.executable, "-c", "pass")
    times: dict[str, list[float]] = {"pushrestic": [], "baseline": [], "bare": []}
    for _ in range(args.repeat):  # interleaved, so that noise hits all alike
        run = run_child(command)
        if run.returncode != 0 or b"restic_backup_files" not in run.stdout:
            print(f"pushrestic failed (exit {run.returncode}): {run.stderr.decode()[-2000:]}")
            return 1
        times["pushrestic"].append(run.seconds)
        times["baseline"].append(run_child(BASELINE_IMPORT).seconds)
        times["bare"].append(run_child(bare).seconds)
    ratio = median(times["pushrestic"]) / median(times["baseline"])
    print(f"pushrestic command: {' '.join(command)}")
    print(
        f"startup: pushrestic_s={median(times['pushrestic']):.4f} "
        f"baseline_import_prometheus_client_s={median(times['baseline']):.4f} "
        f"python_bare_s={median(times['bare']):.4f} (medians of {args.repeat})"
    )
    print(
        f"startup: ratio_to_import_prometheus_client={ratio:.2f} "
        f"(of minima {min(times['pushrestic']) / min(times['baseline']):.2f}) "
        f"goal<={GOAL_RATIO:g} {verdict(ratio <= GOAL_RATIO)}"
    )

    ours = import_times(python_argv(command), runs=5)
    theirs = import_times(python_argv(BASELINE_IMPORT), runs=5)
    extra = [module for name, module in ours.items() if name not in theirs]
    total = sum(module.self_us for module in extra)
    print(f"imports beyond the baseline: {len(extra)} modules, {total / 1000:.1f} ms (own times)")
    for module in sorted(extra, key=lambda module: module.self_us, reverse=True)[: args.top]:
        print(
            f"  {module.self_us / 1000:6.1f} ms own {module.cumulative_us / 1000:6.1f} ms "
            f"with its imports  {module.name}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
