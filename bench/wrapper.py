"""What wrapping a real ``restic backup`` in run_command costs: wall time and memory.

A tree of small files (100,000 by default) is generated once under
``bench/out/wrapper-tree`` (gitignored); each run of the benchmark makes a fresh
repository next to it and stores the tree once. Then, in rounds that alternate
which goes first, the same incremental ``restic backup`` (text, then ``--json``,
whose status lines stream the whole time) runs bare and under run_command, both
with stdout and stderr on pipes. The figure is the ratio of the median wall
times, spawn to exit; the median of each round's own ratio (its two runs ran
back to back) is printed too, as it is less swayed by a machine whose load
changes. So is the fixed cost of wrapping: ``true`` wrapped against ``true``
bare (the interpreter's start, the imports), which a longer backup makes
smaller in proportion. The wrapped run is a tiny ``python3 -c`` that imports
run_command, runs restic and exits with its code; it records its own peak
memory (``VmHWM``: this process image only, not restic's), and what it parsed
is checked, so a wrapper that stopped parsing cannot pass for a fast one.

Usage: python3 -m bench.wrapper [--files 100000] [--rounds 7] [--out DIR]
Goal: at most 1.02x the bare run.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench._common import REPO, ChildRun, median, run_child, verdict

GOAL_RATIO = 1.02
TREE_VERSION = 1
FILES_PER_DIR = 1000
PASSWORD = "bench-wrapper-password"

# run_command in a child python: RESULT COMMAND... -> "VmHWM_bytes groups parse_error".
_WRAPPER = """
import sys
from pushrestic.sources.command import run_command
wrapped = run_command(sys.argv[2:])
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
with open(sys.argv[1], "w") as result:
    result.write(f"{peak} {len(wrapped.groups)} {wrapped.parse_error}")
sys.exit(wrapped.exit_code)
"""


@dataclass(frozen=True, slots=True)
class Wrapped:
    """A wrapped run: the child's measures and what the wrapper said about itself."""

    run: ChildRun
    peak_bytes: int
    groups: int
    parse_error: str


def ensure_tree(root: Path, files: int) -> Path:
    """``files`` small files (50 B to 4 KiB) in directories of FILES_PER_DIR, made once."""
    marker = root / f".complete-{files}-v{TREE_VERSION}"
    if marker.exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    rng = random.Random(TREE_VERSION)
    print(f"generating {files} files under {root} (once)", file=sys.stderr)
    for index in range(files):
        directory = root / f"d{index // FILES_PER_DIR:04d}"
        if index % FILES_PER_DIR == 0:
            directory.mkdir(parents=True)
        (directory / f"f{index:06d}.dat").write_bytes(rng.randbytes(rng.randint(50, 4096)))
    marker.touch()
    return root


def restic_environment(work: Path) -> None:
    """Point this process's environment (the children's) at the benchmark's repository."""
    for key in [key for key in os.environ if key.startswith("RESTIC_")]:
        del os.environ[key]
    os.environ.update(
        RESTIC_REPOSITORY=str(work / "repo"),
        RESTIC_PASSWORD=PASSWORD,
        RESTIC_CACHE_DIR=str(work / "cache"),
        TMPDIR=str(work / "tmp"),
    )


def restic(restic_path: str, *args: str) -> None:
    """Run restic untimed; it must succeed."""
    done = subprocess.run(
        [restic_path, *args], stdin=subprocess.DEVNULL, capture_output=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"restic {' '.join(args)} failed: {done.stderr.decode()[-2000:]}")


def run_wrapped(argv: list[str]) -> Wrapped:
    with tempfile.TemporaryDirectory() as scratch:
        result = Path(scratch) / "result"
        run = run_child([sys.executable, "-c", _WRAPPER, str(result), *argv])
        peak, groups, parse_error = result.read_text().split(" ", 2)
    return Wrapped(run, int(peak), int(groups), parse_error)


def measure(
    argv: list[str], rounds: int, *, groups: int = 1
) -> tuple[list[ChildRun], list[Wrapped]]:
    """``rounds`` bare and wrapped runs of ``argv``, alternating which goes first."""
    bare: list[ChildRun] = []
    wrapped: list[Wrapped] = []
    for index in range(rounds):
        for kind in ("bare", "wrapped") if index % 2 == 0 else ("wrapped", "bare"):
            if kind == "bare":
                run = run_child(argv)
                bare.append(run)
            else:
                wrapped.append(run_wrapped(argv))
                run = wrapped[-1].run
            if run.returncode != 0:
                raise RuntimeError(f"{kind} run exited {run.returncode}: {run.stderr[-2000:]!r}")
    for each in wrapped:
        if each.groups != groups or each.parse_error != "None":
            raise RuntimeError(f"the wrapper parsed {each.groups} groups: {each.parse_error}")
    return bare, wrapped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    options = parser.parse_args()
    restic_path = shutil.which("restic")
    if restic_path is None:
        print("restic is not installed", file=sys.stderr)
        return 1
    true = shutil.which("true") or "/bin/true"
    bare_true, wrapped_true = measure([true], 15, groups=0)
    fixed = median([each.run.seconds for each in wrapped_true]) - median(
        [run.seconds for run in bare_true]
    )
    print(f"fixed cost of wrapping (python3 -c, imports, running true): {fixed * 1e3:.0f} ms")
    tree = ensure_tree(options.out / "wrapper-tree", options.files)
    work = options.out / "wrapper-work"
    shutil.rmtree(work, ignore_errors=True)
    (work / "tmp").mkdir(parents=True)
    restic_environment(work)
    restic(restic_path, "init")
    first = run_child([restic_path, "backup", str(tree)])
    if first.returncode != 0:
        raise RuntimeError(f"the first backup failed: {first.stderr[-2000:]!r}")
    print(f"restic {options.files} files, first backup: {first.seconds:.1f} s")
    ok = True
    peak = 0
    for name, flags in (("text", []), ("json", ["--json"])):
        bare, wrapped = measure([restic_path, "backup", *flags, str(tree)], options.rounds)
        bare_median = median([run.seconds for run in bare])
        wrapped_median = median([each.run.seconds for each in wrapped])
        ratio = wrapped_median / bare_median
        pairs = zip(bare, wrapped, strict=True)
        paired = median([each.run.seconds / run.seconds for run, each in pairs])
        ok = ok and ratio <= GOAL_RATIO
        peak = max([peak, *(each.peak_bytes for each in wrapped)])
        print(
            f"incremental backup, {name:4}: bare {bare_median:.2f} s, wrapped "
            f"{wrapped_median:.2f} s (medians of {options.rounds}): {ratio:.3f}x "
            f"(goal <= {GOAL_RATIO}x: {verdict(ratio <= GOAL_RATIO)}); "
            f"per round {paired:.3f}x; output {len(bare[0].stdout) / 1000:.1f} kB"
        )
    print(f"pushrestic's peak memory (VmHWM of the wrapper process): {peak / 1e6:.1f} MB")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
