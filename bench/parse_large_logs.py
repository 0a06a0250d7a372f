"""How fast ``pushrestic push --dry-run`` reads a huge log, and how much memory it takes.

Generates (once; reused from ``bench/out/``) a restic ``backup --json -v`` log and
a ``backup -vv`` text log of each size asked for, then times ``wc -l FILE``
against ``pushrestic push --dry-run FILE`` with the file in the page cache, and
prints the ratio. Peak memory is measured per child with ``os.wait4`` and set
against a child that only imports prometheus_client. The metrics printed are
checked against the summary written at the end of each log, so a broken fast
path cannot pass for a fast one.

Usage: python3 -m bench.parse_large_logs [--sizes 100,400] [--repeat 5] [--out DIR]
Goals: time at most 4x ``wc -l``; peak memory under 64 MB whatever the log size.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bench._common import (
    BASELINE_IMPORT,
    REPO,
    median,
    pushrestic_command,
    run_child,
    verdict,
    warm,
)

GENERATOR_VERSION = 1
MB = 1_000_000
GOAL_RATIO = 4.0
GOAL_PEAK_BYTES = 64 * MB
ERRORS = 5  # per-item error lines written into each log
SMALL_LOG = REPO / "tests" / "fixtures" / "samples" / "restic-0.14-backup-text-initial.log"

# The run each log describes: what its summary says, so the metrics can be checked.
FILES_NEW, FILES_CHANGED, FILES_UNMODIFIED = 48_213, 1_357, 1_185_046
DIRS_NEW, DIRS_CHANGED, DIRS_UNMODIFIED = 2_104, 8_311, 50_227
DATA_BLOBS, TREE_BLOBS = 91_377, 9_205
TOTAL_FILES = FILES_NEW + FILES_CHANGED + FILES_UNMODIFIED
TOTAL_BYTES = 872_245_011_456
DATA_ADDED, DATA_ADDED_PACKED = 22_876_036_571, 16_108_211_734
DURATION = 25_925.123456789
SNAPSHOT = "1a2b3c4d5e6f70819a2b3c4d5e6f70819a2b3c4d5e6f70819a2b3c4d5e6f7081"


@dataclass(frozen=True, slots=True)
class Log:
    """A generated log: its kind ('json' or 'text'), its size in MB, where it is."""

    kind: str
    size_mb: int
    path: Path


# -- generating ---------------------------------------------------------------

_WORDS = (
    "report", "invoice", "holiday", "backup", "notes", "draft", "final", "scan",
    "project", "budget", "letter", "photo", "video", "track", "module", "config",
    "Größe", "café", "résumé", "archive", "thesis", "data", "export", "summary",
)  # fmt: skip
_AREAS = ("Documents", "Photos", "Music", "Projects", "mail/cur", ".config", "src", "Videos")
_EXTS = (".jpg", ".pdf", ".txt", ".mp3", ".py", ".json", ".odt", ".png", ".tar.gz", ".eml", "")
_USERS = ("alice", "bob", "carol", "dave", "erin", "frank")


def _paths(rng: random.Random, count: int) -> list[str]:
    paths = []
    for _ in range(count):
        parts = ["/data/home", rng.choice(_USERS), rng.choice(_AREAS)]
        parts += [f"{rng.choice(_WORDS)}-{rng.randint(1, 999)}" for _ in range(rng.randint(0, 3))]
        parts.append(f"{rng.choice(_WORDS)}_{rng.randint(1, 99_999):05d}{rng.choice(_EXTS)}")
        paths.append("/".join(parts))
    return paths


def _restic_size(size: float) -> str:
    """A size as restic (0.15+) prints it."""
    for unit, power in (("TiB", 4), ("GiB", 3), ("MiB", 2), ("KiB", 1)):
        if size >= 1024**power:
            return f"{size / 1024**power:.3f} {unit}"
    return f"{int(size)} B"


def _json_lines(target: int, rng: random.Random) -> Iterator[str]:
    """restic 0.17 ``backup --json -v``: status and verbose_status lines, a few errors
    (stderr, interleaved), the summary, and the plain-text warning restic prints last."""
    paths = _paths(rng, 20_000)
    error_at = [target * (k + 1) // (ERRORS + 1) for k in range(ERRORS)]
    written = 0
    errors = 0
    first = '{"message_type":"status","percent_done":0,"total_files":1}\n'
    yield first
    written += len(first)
    scan_done = False
    while written < target:
        frac = written / target
        if not scan_done and frac > 0.03:
            scan_done = True
            line = (
                '{"message_type":"verbose_status","action":"scan_finished","item":"",'
                f'"duration":12.204140089,"data_size":{TOTAL_BYTES},"data_size_in_repo":0,'
                f'"metadata_size":0,"metadata_size_in_repo":0,"total_files":{TOTAL_FILES}}}\n'
            )
        elif errors < ERRORS and written >= error_at[errors]:
            item = rng.choice(paths)
            errors += 1
            if errors % 2:
                error = f'{{"message":"open {item}: permission denied"}}'
            else:
                error = f'{{"Op":"open","Path":"{item}","Err":13}}'
            line = (
                f'{{"message_type":"error","error":{error},"during":"archival","item":"{item}"}}\n'
            )
        elif rng.random() < 0.3:
            action = rng.choices(("unchanged", "modified", "new"), (85, 8, 7))[0]
            size = 0 if action == "unchanged" else rng.randint(0, 50_000_000)
            line = (
                f'{{"message_type":"verbose_status","action":"{action}","item":"{rng.choice(paths)}",'
                f'"duration":{rng.random() / 50:.9f},"data_size":{size},'
                f'"data_size_in_repo":{size * 7 // 10},"metadata_size":0,'
                '"metadata_size_in_repo":0,"total_files":0}\n'
            )
        else:
            elapsed = int(frac * DURATION)
            current = rng.sample(paths, rng.choice((0, 1, 2, 2, 2)))
            line = (
                '{"message_type":"status"'
                + (f',"seconds_elapsed":{elapsed}' if elapsed else "")
                + f',"seconds_remaining":{int((1 - frac) * DURATION) + 1}'
                + f',"percent_done":{frac!r},"total_files":{TOTAL_FILES}'
                + f',"files_done":{int(frac * TOTAL_FILES)},"total_bytes":{TOTAL_BYTES}'
                + f',"bytes_done":{int(frac * TOTAL_BYTES)}'
                + (f',"error_count":{errors}' if errors else "")
                + (',"current_files":["' + '","'.join(current) + '"]' if current else "")
                + "}\n"
            )
        yield line
        written += len(line)
    yield (
        f'{{"message_type":"status","seconds_elapsed":{int(DURATION)},"percent_done":1,'
        f'"total_files":{TOTAL_FILES},"files_done":{TOTAL_FILES},"total_bytes":{TOTAL_BYTES},'
        f'"bytes_done":{TOTAL_BYTES},"error_count":{ERRORS}}}\n'
    )
    yield (
        f'{{"message_type":"summary","files_new":{FILES_NEW},"files_changed":{FILES_CHANGED},'
        f'"files_unmodified":{FILES_UNMODIFIED},"dirs_new":{DIRS_NEW},'
        f'"dirs_changed":{DIRS_CHANGED},"dirs_unmodified":{DIRS_UNMODIFIED},'
        f'"data_blobs":{DATA_BLOBS},"tree_blobs":{TREE_BLOBS},"data_added":{DATA_ADDED},'
        f'"data_added_packed":{DATA_ADDED_PACKED},"total_files_processed":{TOTAL_FILES},'
        f'"total_bytes_processed":{TOTAL_BYTES},"total_duration":{DURATION},'
        f'"snapshot_id":"{SNAPSHOT}"}}\n'
    )
    yield "Warning: at least one source file could not be read\n"


def _text_lines(target: int, rng: random.Random) -> Iterator[str]:
    """restic 0.17 ``backup -vv``: the -v header, one line per item, a few ``error:``
    lines (stderr, interleaved), the summary block, the snapshot line, the warning."""
    paths = _paths(rng, 20_000)
    error_at = [target * (k + 1) // (ERRORS + 1) for k in range(ERRORS)]
    header = (
        "open repository\n"
        "lock repository\n"
        "using parent snapshot 9f8e7d6c\n"
        "load index files\n"
        "start scan on [/data/home]\n"
        "start backup on [/data/home]\n"
        f"scan finished in 12.204s: {TOTAL_FILES} files, {_restic_size(TOTAL_BYTES)}\n"
    )
    yield header
    written = len(header)
    errors = 0
    while written < target:
        if errors < ERRORS and written >= error_at[errors]:
            errors += 1
            line = f"error: open {rng.choice(paths)}: permission denied\n"
        else:
            roll = rng.random()
            path = rng.choice(paths)
            took = f"{rng.random() / 50:.3f}"
            if roll < 0.80:
                line = f"unchanged {path}\n"
            elif roll < 0.86:
                size = rng.randint(0, 50_000_000)
                line = (
                    f"modified  {path}, saved in {took}s ({_restic_size(size)} added, "
                    f"{_restic_size(size * 7 // 10)} stored)\n"
                )
            elif roll < 0.90:
                directory = path.rsplit("/", 1)[0]
                line = (
                    f"modified  {directory}/, saved in {took}s (0 B added, 0 B stored, "
                    f"{_restic_size(rng.randint(300, 90_000))} metadata)\n"
                )
            else:
                size = rng.randint(0, 9_000_000)
                line = f"new       {path}, saved in {took}s ({_restic_size(size)} added)\n"
        yield line
        written += len(line)
    hours, rest = divmod(int(DURATION), 3600)
    files = f"{FILES_NEW:5d} new, {FILES_CHANGED:5d} changed, {FILES_UNMODIFIED:5d} unmodified"
    dirs = f"{DIRS_NEW:5d} new, {DIRS_CHANGED:5d} changed, {DIRS_UNMODIFIED:5d} unmodified"
    added, stored = _restic_size(DATA_ADDED), _restic_size(DATA_ADDED_PACKED)
    yield (
        "\n"
        f"Files:        {files}\n"
        f"Dirs:         {dirs}\n"
        f"Data Blobs:   {DATA_BLOBS:5d} new\n"
        f"Tree Blobs:   {TREE_BLOBS:5d} new\n"
        f"Added to the repository: {added} ({stored} stored)\n"
        "\n"
        f"processed {TOTAL_FILES} files, {_restic_size(TOTAL_BYTES)} in "
        f"{hours}:{rest // 60:02d}:{rest % 60:02d}\n"
        f"snapshot {SNAPSHOT[:8]} saved\n"
        "Warning: at least one source file could not be read\n"
    )


def generate(kind: str, size_mb: int, out: Path) -> Log:
    """The log of that kind and size, written to ``out`` unless already there."""
    suffix = "jsonl" if kind == "json" else "log"
    path = out / f"restic-backup-{kind}-{size_mb}MB.v{GENERATOR_VERSION}.{suffix}"
    if not path.exists():
        print(f"generating {path} (once; later runs reuse it) ...", flush=True)
        out.mkdir(parents=True, exist_ok=True)
        lines: Callable[[int, random.Random], Iterator[str]]
        lines = _json_lines if kind == "json" else _text_lines
        partial = path.with_suffix(".partial")
        with partial.open("w", encoding="utf-8", newline="\n") as stream:
            batch: list[str] = []
            for line in lines(size_mb * MB, random.Random(size_mb)):
                batch.append(line)
                if len(batch) == 20_000:
                    stream.write("".join(batch))
                    batch.clear()
            stream.write("".join(batch))
        partial.rename(path)
    return Log(kind, size_mb, path)


# -- checking -----------------------------------------------------------------


def expected_values(kind: str) -> dict[tuple[str, str], float]:
    """(metric, distinguishing label value) -> value the metrics must show for this log."""
    added = float(DATA_ADDED)
    if kind == "text":  # text sizes are rounded to three decimals of their unit
        number, unit = _restic_size(DATA_ADDED).split()
        added = float(number) * 1024 ** ["B", "KiB", "MiB", "GiB", "TiB"].index(unit)
    return {
        ("restic_backup_files", "new"): FILES_NEW,
        ("restic_backup_files", "changed"): FILES_CHANGED,
        ("restic_backup_files", "unmodified"): FILES_UNMODIFIED,
        ("restic_backup_dirs", "new"): DIRS_NEW,
        ("restic_backup_dirs", "changed"): DIRS_CHANGED,
        ("restic_backup_dirs", "unmodified"): DIRS_UNMODIFIED,
        ("restic_backup_blobs", "data"): DATA_BLOBS,
        ("restic_backup_blobs", "tree"): TREE_BLOBS,
        ("restic_backup_processed_files", ""): TOTAL_FILES,
        ("restic_backup_added_bytes", ""): added,
        ("restic_backup_errors", ""): ERRORS,
    }


def check_output(kind: str, text: str) -> list[str]:
    """What is wrong with the metrics printed for a generated log (empty if nothing)."""
    seen: dict[tuple[str, str], float] = {}
    snapshot = None
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = dict(sample.labels)
            key = labels.get("state") or labels.get("type") or ""
            seen[(sample.name, key)] = sample.value
            if sample.name == "restic_backup_info":
                snapshot = labels.get("snapshot_id")
    problems = []
    for (name, label), value in expected_values(kind).items():
        got = seen.get((name, label))
        if got is None or not math.isclose(got, value, rel_tol=1e-9):
            problems.append(f"{name}{{{label}}}: expected {value}, got {got}")
    if snapshot not in (SNAPSHOT, SNAPSHOT[:8]):
        problems.append(
            f"restic_backup_info snapshot_id: expected {SNAPSHOT[:8]}..., got {snapshot}"
        )
    return problems


# -- measuring ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Baselines:
    """Peak memory of the reference children: importing prometheus_client, and
    pushrestic on a log of eight lines (its own imports and report, no reading)."""

    import_rss: int
    small_log_rss: int


def measure(log: Log, repeat: int, baselines: Baselines) -> int | None:
    """Time and check one log and print its figures; its peak memory, or None if the
    output was wrong."""
    command = (*pushrestic_command(), "push", "--dry-run", str(log.path))
    warm(log.path)
    wc_times, push_times, peaks = [], [], []
    for _ in range(repeat):  # interleaved, so that noise hits both alike
        wc = run_child(("wc", "-l", str(log.path)))
        wc_times.append(wc.seconds)
        push = run_child(command)
        push_times.append(push.seconds)
        peaks.append(push.max_rss_bytes)
        problems = check_output(log.kind, push.stdout.decode())
        if push.returncode != 0 or problems:
            print(f"{log.kind}-{log.size_mb}MB: WRONG OUTPUT (exit {push.returncode})")
            for line in problems[:10]:
                print(f"  {line}")
            print(push.stderr.decode()[-2000:], file=sys.stderr)
            return None
    name = f"{log.kind}-{log.size_mb}MB"
    ratio = median(push_times) / median(wc_times)
    best = min(push_times) / min(wc_times)
    peak = max(peaks)
    print(
        f"{name}: wc_l_s={median(wc_times):.3f} pushrestic_s={median(push_times):.3f} "
        f"(median of {repeat}) output=checked"
    )
    print(
        f"{name}: ratio_to_wc_l={ratio:.2f} (of minima {best:.2f}) "
        f"goal<={GOAL_RATIO:g} {verdict(ratio <= GOAL_RATIO)}"
    )
    print(
        f"{name}: peak_rss_mb={peak / MB:.1f} "
        f"(+{(peak - baselines.import_rss) / MB:.1f} on importing prometheus_client, "
        f"+{(peak - baselines.small_log_rss) / MB:.1f} on an 8-line log) "
        f"goal<{GOAL_PEAK_BYTES // MB} {verdict(peak < GOAL_PEAK_BYTES)}"
    )
    return peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="100,400", help="log sizes in MB (default: 100,400)")
    parser.add_argument("--kinds", default="json,text", help="json, text or both (default)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per log (default: 5)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out", help="where logs go")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    logs = {
        kind: [generate(kind, size, args.out) for size in sizes] for kind in args.kinds.split(",")
    }
    small_log = (*pushrestic_command(), "push", "--dry-run", str(SMALL_LOG))
    baselines = Baselines(
        min(run_child(BASELINE_IMPORT).max_rss_bytes for _ in range(3)),
        min(run_child(small_log).max_rss_bytes for _ in range(3)),
    )
    print(f"pushrestic command: {' '.join(pushrestic_command())}")
    print(
        f"baselines: peak_rss_mb={baselines.import_rss / MB:.1f} (python3 -c 'import "
        f"prometheus_client'), {baselines.small_log_rss / MB:.1f} (pushrestic, 8-line log)"
    )
    ok = True
    for kind, kind_logs in logs.items():
        peaks = {log.size_mb: measure(log, args.repeat, baselines) for log in kind_logs}
        ok = ok and None not in peaks.values()
        if len(peaks) > 1 and ok:
            figures = ", ".join(f"{size}MB={(peak or 0) / MB:.1f}" for size, peak in peaks.items())
            print(f"{kind}: peak_rss_mb by log size: {figures}")
    print(f"cpus={os.cpu_count()} python={sys.version.split()[0]}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
