"""Integration fixtures: real restic runs, real logs, pushrestic's dry-run output.

The library, bottom up:

* :class:`ResticRepo` - a fresh repository (a copy of one ``restic init`` made
  per session: init costs seconds, a copy nothing) with its own cache, TMPDIR
  and HOME, all under pytest's temporary directories; the password travels in
  the subprocess environment only. :meth:`ResticRepo.run_restic` runs restic
  with stdin closed and a timeout and returns a :class:`Completed`.
* :class:`SourceTree` - a generated tree to back up (a few directories, files of
  a few KiB, one of 1 MiB) that knows its own file count and size.
* :func:`push_dry_run` - ``pushrestic push --dry-run LOG ...`` as a subprocess,
  with its output parsed back into series by prometheus_client's parser.
* Scenario fixtures (session scope) - each runs restic once per session, writes
  every output as a log file and records restic's own truth next to it
  (``restic snapshots --json``, the source tree's real size). test_real_restic
  checks what pushrestic reports against that truth; test_promtool lints the
  dry-run output of every log in :data:`SCENARIOS`.
"""

from __future__ import annotations

import functools
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests import cli
from tests.conftest import require_binary
from tests.integration.journals import Journals, build_journals
from tests.integration.servers import Pushgateway, started_pushgateway

PASSWORD = "integration-test-password"
RESTIC_TIMEOUT = 60.0
PUSH_TIMEOUT = 30.0
# Files of the generated source tree below its root: (path, size in bytes).
_TREE_LAYOUT: tuple[tuple[str, int], ...] = (
    ("docs/report.txt", 3 * 1024 + 17),
    ("docs/notes.md", 5 * 1024),
    ("docs/archive/2025.txt", 2 * 1024 + 900),
    ("docs/archive/2024.txt", 7 * 1024 + 3),
    ("config/app.toml", 1024 + 333),
    ("config/hosts", 4 * 1024),
    ("config/keys/id.pub", 700),
    ("media/small.bin", 6 * 1024 + 11),
    ("media/big.bin", 1024 * 1024),
    ("readme.txt", 2 * 1024 + 1),
)
NOBODY = 65534

SeriesKey = tuple[str, frozenset[tuple[str, str]]]


# -- running restic -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Completed:
    """One finished restic invocation.

    Captured separately, ``stdout`` and ``stderr`` are the two streams and
    ``combined`` is stdout then stderr. Captured merged (``2>&1``, restic's
    stderr is its stdout pipe), ``combined`` is the real interleaving, which
    ``stdout`` also holds, and ``stderr`` is empty.
    """

    stdout: str
    stderr: str
    combined: str
    exit_code: int


@dataclass(frozen=True, slots=True)
class ResticLog:
    """A restic run's output written to a log file, as a cron job or autorestic would keep it."""

    path: Path
    completed: Completed

    @property
    def exit_code(self) -> int:
        return self.completed.exit_code


@dataclass(slots=True)
class ResticRepo:
    """A repository of its own, and the directory its runs work in.

    ``work`` holds the cache, TMPDIR, HOME, the source tree and the logs.
    ``run_as`` is a (uid, gid) to run restic as, through setpriv.
    """

    path: Path
    work: Path
    restic: str
    run_as: tuple[int, int] | None = None
    password: str = PASSWORD

    @property
    def cache(self) -> Path:
        return self.work / "cache"

    def environment(self, env_extra: dict[str, str] | None = None) -> dict[str, str]:
        """The caller's environment without any RESTIC_* variable, pointed at this repository."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
        env.update(
            HOME=str(self.work / "home"),
            TMPDIR=str(self.work / "tmp"),
            XDG_CACHE_HOME=str(self.cache),
            RESTIC_REPOSITORY=str(self.path),
            RESTIC_PASSWORD=self.password,
            RESTIC_CACHE_DIR=str(self.cache),
            LC_ALL="C.UTF-8",
        )
        env.update(env_extra or {})
        return env

    def command(self, args: tuple[str, ...]) -> list[str]:
        if self.run_as is None:
            return [self.restic, *args]
        uid, gid = self.run_as
        setpriv = require_binary("setpriv")
        return [setpriv, f"--reuid={uid}", f"--regid={gid}", "--clear-groups", self.restic, *args]

    def run_restic(
        self,
        *args: str,
        env_extra: dict[str, str] | None = None,
        merged: bool = False,
        timeout: float = RESTIC_TIMEOUT,
    ) -> Completed:
        """Run ``restic ARGS`` in ``work`` with stdin closed; ``merged`` is ``2>&1``."""
        proc = subprocess.run(
            self.command(args),
            cwd=self.work,
            env=self.environment(env_extra),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merged else subprocess.PIPE,
            timeout=timeout,
            check=False,
        )
        stdout = proc.stdout.decode("utf-8", "surrogateescape")
        if merged:
            return Completed(stdout, "", stdout, proc.returncode)
        stderr = proc.stderr.decode("utf-8", "surrogateescape")
        return Completed(stdout, stderr, stdout + stderr, proc.returncode)

    def popen(
        self,
        *args: str,
        env_extra: dict[str, str] | None = None,
        stdin: int = subprocess.DEVNULL,
    ) -> subprocess.Popen[bytes]:
        """Start ``restic ARGS`` with stdout and stderr merged into one pipe."""
        return subprocess.Popen(
            self.command(args),
            cwd=self.work,
            env=self.environment(env_extra),
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

    def log(
        self,
        name: str,
        *args: str,
        env_extra: dict[str, str] | None = None,
        merged: bool = True,
    ) -> ResticLog:
        """Run restic and keep what it printed in ``logs/NAME`` (``2>&1`` unless told)."""
        completed = self.run_restic(*args, env_extra=env_extra, merged=merged)
        return self.write_log(name, completed)

    def write_log(self, name: str, completed: Completed) -> ResticLog:
        """Keep ``completed.combined`` in ``logs/NAME``, byte for byte as restic printed it."""
        path = self.work / "logs" / name
        path.write_bytes(completed.combined.encode("utf-8", "surrogateescape"))
        return ResticLog(path, completed)

    def snapshots(self) -> list[dict[str, Any]]:
        """What ``restic snapshots --json`` says, oldest first."""
        done = self.run_restic("snapshots", "--json")
        assert done.exit_code == 0, done.combined
        snapshots: list[dict[str, Any]] = json.loads(done.stdout)
        return sorted(snapshots, key=snapshot_time)

    def chown(self, uid: int, gid: int) -> None:
        """Hand the work directory (the repository is in it) to ``uid``:``gid``."""
        assert self.path.is_relative_to(self.work)
        os.chown(self.work, uid, gid)
        for root, dirs, files in os.walk(self.work):
            for name in (*dirs, *files):
                os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)


def snapshot_time(snapshot: dict[str, Any]) -> float:
    """A snapshot's RFC 3339 time (nanoseconds) -> Unix seconds; Python keeps microseconds."""
    return datetime.fromisoformat(str(snapshot["time"])).timestamp()


def new_repo(template: Path, work: Path, run_as: tuple[int, int] | None = None) -> ResticRepo:
    """A fresh, empty repository (a copy of ``template``) working in ``work``."""
    work.mkdir(parents=True, exist_ok=True)
    for sub in ("home", "tmp", "cache", "logs"):
        (work / sub).mkdir(exist_ok=True)
    repo = work / "repo"
    shutil.copytree(template, repo)
    return ResticRepo(repo, work, require_binary("restic"), run_as)


# -- the source tree ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceTree:
    """A directory to back up; its facts are read from the file system each time."""

    root: Path

    @classmethod
    def generate(cls, root: Path, seed: int = 1) -> SourceTree:
        rng = random.Random(seed)
        for relative, size in _TREE_LAYOUT:
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(rng.randbytes(size))
        return cls(root)

    def files(self) -> list[Path]:
        return sorted(p for p in self.root.rglob("*") if p.is_file())

    @property
    def file_count(self) -> int:
        return len(self.files())

    @property
    def dir_count(self) -> int:
        """Directories, the root included (restic counts it)."""
        return 1 + sum(1 for p in self.root.rglob("*") if p.is_dir())

    @property
    def size(self) -> int:
        return sum(p.stat().st_size for p in self.files())


def restic_rounding(size: int) -> float:
    """The most a size restic prints with three decimals (``1.026 MiB``) can be off by."""
    unit = 1
    while size >= unit * 1024 and unit < 1024**5:
        unit *= 1024
    return 0.0 if unit == 1 else 0.0005 * unit


# -- pushrestic ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PushResult:
    """``pushrestic push --dry-run`` (run by :func:`tests.cli.pushrestic`): its exit code,
    output and the series it printed, looked up in the default group."""

    exit_code: int
    stdout: str
    stderr: str
    metrics: dict[SeriesKey, float]

    def value(self, name: str, **labels: str) -> float | None:
        """The value of one series of the default group, or None when it is absent. A
        label given as "" is one the series does not carry (no label to Prometheus)."""
        wanted = {"location": "default", "backend": "default", **labels}
        present = {k: v for k, v in wanted.items() if v != ""}
        return self.metrics.get((name, frozenset(present.items())))

    def series(self, name: str) -> list[dict[str, str]]:
        """The label sets of every series called ``name``."""
        return [dict(labels) for (series, labels) in self.metrics if series == name]

    def snapshot_ids(self) -> list[str]:
        return [labels.get("snapshot_id", "") for labels in self.series("restic_backup_info")]


def parse_exposition(text: str) -> dict[SeriesKey, float]:
    """Prometheus text exposition -> {(name, frozenset(labels.items())): value}."""
    metrics: dict[SeriesKey, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in metrics, f"duplicate series {key}"
            metrics[key] = sample.value
    return metrics


def push_dry_run(log: Path, *args: str) -> PushResult:
    """Run ``pushrestic push --dry-run LOG ARGS`` (the installed package, this interpreter).

    Logs never change once written, so each (log, args) runs once per session.
    """
    return _push_dry_run(log, args)


@functools.cache
def _push_dry_run(log: Path, args: tuple[str, ...]) -> PushResult:
    ran = cli.pushrestic("push", "--dry-run", str(log), *args, timeout=PUSH_TIMEOUT)
    return PushResult(ran.code, ran.stdout, ran.stderr, parse_exposition(ran.stdout))


# -- fixtures -----------------------------------------------------------------


RepoFactory = Callable[[str], ResticRepo]


@pytest.fixture(scope="session")
def restic_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One empty repository made by ``restic init``, copied for every test that needs one."""
    restic = require_binary("restic")
    work = tmp_path_factory.mktemp("restic-template")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
    env.update(
        HOME=str(work),
        TMPDIR=str(work),
        RESTIC_PASSWORD=PASSWORD,
        RESTIC_CACHE_DIR=str(work / "cache"),
    )
    proc = subprocess.run(
        [restic, "init", "--repo", str(work / "repo")],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RESTIC_TIMEOUT,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return work / "repo"


@pytest.fixture(scope="session")
def make_repo(restic_template: Path, tmp_path_factory: pytest.TempPathFactory) -> RepoFactory:
    """``make_repo(name)``: a fresh repository with a generated source tree in ``work/src``."""

    def make(name: str) -> ResticRepo:
        repo = new_repo(restic_template, tmp_path_factory.mktemp(name))
        SourceTree.generate(repo.work / "src")
        return repo

    return make


@pytest.fixture
def restic_repo(restic_template: Path, tmp_path: Path) -> ResticRepo:
    """A fresh repository in tmp_path, with a generated source tree in ``work/src``."""
    repo = new_repo(restic_template, tmp_path)
    SourceTree.generate(repo.work / "src")
    return repo


# -- scenarios ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TreeFacts:
    """The source tree as a backup found it."""

    files: int
    dirs: int
    size: int

    @classmethod
    def of(cls, tree: SourceTree) -> TreeFacts:
        return cls(tree.file_count, tree.dir_count, tree.size)


@dataclass(frozen=True, slots=True)
class BackupScenario:
    """Backups in one repository: each log with the source tree's facts at that moment,
    and ``restic snapshots --json`` after the last one."""

    repo: ResticRepo
    logs: dict[str, ResticLog]
    trees: dict[str, TreeFacts]
    snapshots: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class FailureScenario:
    """Runs that failed, by name."""

    logs: dict[str, ResticLog]


@dataclass(frozen=True, slots=True)
class MaintenanceScenario:
    """forget, prune and check, with ``restic snapshots --json`` around each forget."""

    logs: dict[str, ResticLog]
    snapshots: dict[str, list[dict[str, Any]]]


def _backups(repo: ResticRepo, steps: list[tuple[str, tuple[str, ...]]]) -> BackupScenario:
    """Run ``restic backup FLAGS src`` per step (a step named incremental* changes the
    tree first) and record the tree's file count and size as each backup saw it."""
    logs, trees = {}, {}
    tree = SourceTree(repo.work / "src")
    for name, flags in steps:
        if name.startswith("incremental"):
            change_tree(tree.root)
        trees[name] = TreeFacts.of(tree)
        logs[name] = repo.log(name, "backup", *flags, "src")
        assert logs[name].exit_code == 0, logs[name].completed.combined
    return BackupScenario(repo, logs, trees, repo.snapshots())


def change_tree(root: Path) -> None:
    """Modify one file (it grows) and add one; everything else stays untouched."""
    with (root / "docs" / "report.txt").open("ab") as handle:
        handle.write(b"one more line\n")
    (root / "docs" / "added.txt").write_bytes(random.Random(2).randbytes(1500))


@pytest.fixture(scope="session")
def text_backups(make_repo: RepoFactory) -> BackupScenario:
    """An initial and an incremental backup, text output, ``2>&1``."""
    return _backups(make_repo("text"), [("initial.log", ()), ("incremental.log", ())])


@pytest.fixture(scope="session")
def json_backups(make_repo: RepoFactory) -> BackupScenario:
    """An initial and an incremental ``backup --json``, ``2>&1``."""
    return _backups(
        make_repo("json"), [("initial.jsonl", ("--json",)), ("incremental.jsonl", ("--json",))]
    )


@pytest.fixture(scope="session")
def verbose_backups(make_repo: RepoFactory) -> BackupScenario:
    """``backup -vv`` (one text line per item), then ``backup --json -v`` (verbose_status)."""
    return _backups(
        make_repo("verbose"),
        [("initial-vv.log", ("-vv",)), ("incremental-json-v.jsonl", ("--json", "-v"))],
    )


@pytest.fixture(scope="session")
def dry_run_backups(make_repo: RepoFactory) -> BackupScenario:
    """``backup --dry-run`` in text and ``--json``: nothing may reach the repository."""
    return _backups(
        make_repo("dry-run"),
        [("dry-run.log", ("--dry-run",)), ("dry-run.jsonl", ("--dry-run", "--json"))],
    )


# restic up to 0.15.1 prints names raw in -vv item lines: a newline in a name starts a
# line of the name's choosing, and a new file's line ends in ", saved in …s (… added)".
HOSTILE_NAMES = ("evil\nerror: boom", "evil2\nFatal: kaboom")


@pytest.fixture(scope="session")
def hostile_names_backup(make_repo: RepoFactory) -> BackupScenario:
    """A clean ``backup -vv`` of files whose names hold a newline and a line restic
    prints when things go wrong."""
    repo = make_repo("hostile-names")
    for name in HOSTILE_NAMES:
        (repo.work / "src" / "docs" / name).write_bytes(b"harmless\n")
    return _backups(repo, [("hostile-names-vv.log", ("-vv",))])


@pytest.fixture(scope="session")
def failed_backups(make_repo: RepoFactory) -> FailureScenario:
    """Backups that fail before a snapshot is written, and one with a missing source that
    restic 0.14 reports with a warning only."""
    repo = make_repo("failures")
    logs = {
        "wrong-password.log": repo.log(
            "wrong-password.log", "backup", "src", env_extra={"RESTIC_PASSWORD": "not-it"}
        ),
        "no-repository.log": repo.log(
            "no-repository.log", "-r", str(repo.work / "no-such-repo"), "backup", "src"
        ),
        "all-sources-missing.log": repo.log(
            "all-sources-missing.log", "backup", "gone", "gone-too"
        ),
        "json-source-missing.log": repo.log("json-source-missing.log", "backup", "--json", "gone"),
    }
    logs.update(_locked_backups(repo))
    return FailureScenario(logs)


def _locked_backups(repo: ResticRepo) -> dict[str, ResticLog]:
    """Backups while another restic holds an exclusive lock.

    ``restic key passwd`` takes the exclusive lock, then reads the new password
    from its stdin: given a pipe nobody writes to, it holds the lock until the
    pipe is closed. No timing is involved.
    """
    holder = repo.popen("key", "passwd", stdin=subprocess.PIPE)
    try:
        deadline = time.monotonic() + RESTIC_TIMEOUT
        while not any((repo.path / "locks").iterdir()):
            assert holder.poll() is None, "restic key passwd ended before locking"
            assert time.monotonic() < deadline, "restic key passwd took no lock"
            time.sleep(0.02)
        return {
            "locked.log": repo.log("locked.log", "backup", "src"),
            "json-locked.log": repo.log("json-locked.log", "backup", "--json", "src"),
        }
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        try:
            holder.wait(timeout=RESTIC_TIMEOUT)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()


@pytest.fixture(scope="session")
def source_missing_backup(make_repo: RepoFactory) -> ResticLog:
    """One of two sources missing: restic 0.14 warns, saves the snapshot and exits 0."""
    repo = make_repo("source-missing")
    return repo.log("source-missing.log", "backup", "src", "gone")


UNREADABLE_RUNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("unreadable.log", ()),
    ("unreadable.jsonl", ("--json",)),
)


@pytest.fixture(scope="session")
def unreadable_backup(
    restic_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BackupScenario]:
    """Backups (text, then ``--json``) with one file they may not read: snapshot saved, exit 3.

    Root reads everything, so as root restic runs as nobody (setpriv) in a
    directory nobody can reach (pytest's own base directory is root's alone).
    """
    if os.geteuid() == 0:
        require_binary("setpriv")
        outer = Path(tempfile.mkdtemp(prefix="pushrestic-unreadable-"))
        outer.chmod(0o755)
        run_as: tuple[int, int] | None = (NOBODY, NOBODY)
    else:
        outer = tmp_path_factory.mktemp("unreadable")
        run_as = None
    try:
        repo = new_repo(restic_template, outer / "work", run_as)
        tree = SourceTree.generate(repo.work / "src")
        secret = repo.work / "src" / "config" / "keys" / "id"
        secret.write_bytes(b"-----BEGIN PRIVATE KEY-----\n")
        if run_as is not None:
            repo.chown(*run_as)
        secret.chmod(0o000)
        facts = TreeFacts.of(tree)
        logs = {name: repo.log(name, "backup", *flags, "src") for name, flags in UNREADABLE_RUNS}
        trees = {name: facts for name, _ in UNREADABLE_RUNS}
        yield BackupScenario(repo, logs, trees, repo.snapshots())
    finally:
        if run_as is not None:
            shutil.rmtree(outer)


@pytest.fixture(scope="session")
def maintenance(make_repo: RepoFactory) -> MaintenanceScenario:
    """Three backups; ``forget --keep-last 2 --prune``; ``forget --keep-last 1 --json``;
    ``check``; then one data pack truncated and ``check`` again."""
    repo = make_repo("maintenance")
    for _ in range(3):
        done = repo.run_restic("backup", "--quiet", "src")
        assert done.exit_code == 0, done.combined
    snapshots = {"start": repo.snapshots()}
    logs = {
        "forget-prune.log": repo.log("forget-prune.log", "forget", "--keep-last", "2", "--prune")
    }
    snapshots["after-prune"] = repo.snapshots()
    logs["forget.json"] = repo.log("forget.json", "forget", "--keep-last", "1", "--json")
    snapshots["after-json"] = repo.snapshots()
    logs["check.log"] = repo.log("check.log", "check")
    # The biggest pack holds the 1 MiB file's data blobs (restic never mixes tree and
    # data blobs in one pack): check finds its size wrong at once, and need not read it
    # (reading a damaged tree pack would retry for about a minute).
    packs = [path for path in (repo.path / "data").rglob("*") if path.is_file()]
    damaged = max(packs, key=lambda path: path.stat().st_size)
    damaged.chmod(0o600)
    os.truncate(damaged, 100)
    logs["check-damaged.log"] = repo.log("check-damaged.log", "check")
    return MaintenanceScenario(logs, snapshots)


@pytest.fixture(scope="session")
def interrupted_backup(make_repo: RepoFactory) -> ResticLog:
    """A backup stopped with SIGINT once it is under way.

    ``--limit-upload 1024`` (KiB/s) makes 8 MiB of random data take at least
    eight seconds to store, so the interrupt always arrives before the end,
    without having to write hundreds of MiB first.
    """
    repo = make_repo("interrupted")
    (repo.work / "src" / "media" / "random.bin").write_bytes(os.urandom(8 * 1024 * 1024))
    proc = repo.popen("--limit-upload", "1024", "backup", "src")
    assert proc.stdout is not None
    try:
        first = proc.stdout.readline()  # "no parent snapshot found, will read all files"
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        rest = proc.stdout.read()
        code = proc.wait(timeout=RESTIC_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    text = (first + rest).decode("utf-8", "surrogateescape")
    assert repo.snapshots() == [], "the interrupted backup saved a snapshot"
    return repo.write_log("interrupted.log", Completed(text, "", text, code))


def _all_logs(fixture_value: object) -> dict[str, ResticLog]:
    if isinstance(fixture_value, ResticLog):
        return {fixture_value.path.name: fixture_value}
    logs = getattr(fixture_value, "logs", None)
    assert isinstance(logs, dict), f"not a scenario: {fixture_value!r}"
    return logs


# Every scenario fixture; test_promtool lints the dry-run output of each of their logs.
SCENARIOS: tuple[str, ...] = (
    "text_backups",
    "json_backups",
    "verbose_backups",
    "dry_run_backups",
    "hostile_names_backup",
    "failed_backups",
    "source_missing_backup",
    "unreadable_backup",
    "maintenance",
    "interrupted_backup",
    "repository_reports",
)


def scenario_logs(request: pytest.FixtureRequest, name: str) -> dict[str, ResticLog]:
    """The logs a scenario fixture produced, by file name."""
    return _all_logs(request.getfixturevalue(name))


@pytest.fixture(scope="session")
def journals(tmp_path_factory: pytest.TempPathFactory) -> Journals:
    """Real journal files, one per export fixture in tests/fixtures/journal."""
    return build_journals(tmp_path_factory)


# -- restic stats and restic snapshots --json (the repository's own truth) ------


@dataclass(frozen=True, slots=True)
class RepositoryScenario:
    """A repository two hosts back up into (a once, b twice), and what ``restic stats``
    (both modes, text and ``--json``) and ``restic snapshots --json`` (plain,
    ``--group-by host``, ``--latest 1``) print about it; stdout only, as a pipe has it."""

    repo: ResticRepo
    logs: dict[str, ResticLog]
    tree: TreeFacts
    snapshots: list[dict[str, Any]]


REPOSITORY_RUNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("stats.json", ("stats", "--json")),
    ("stats-raw-data.json", ("stats", "--json", "--mode", "raw-data")),
    ("stats.log", ("stats",)),
    ("stats-raw-data.log", ("stats", "--mode", "raw-data")),
    ("snapshots.json", ("snapshots", "--json")),
    ("snapshots-group-by-host.json", ("snapshots", "--json", "--group-by", "host")),
    ("snapshots-latest.json", ("snapshots", "--json", "--latest", "1")),
)


@pytest.fixture(scope="session")
def repository_reports(make_repo: RepoFactory) -> RepositoryScenario:
    """Backups of one tree by host a, then twice by host b; then every REPOSITORY_RUNS."""
    repo = make_repo("repository")
    for host in ("a", "b", "b"):
        done = repo.run_restic("backup", "--quiet", "--host", host, "src")
        assert done.exit_code == 0, done.combined
    logs = {}
    for name, args in REPOSITORY_RUNS:
        completed = repo.run_restic(*args)
        assert completed.exit_code == 0, completed.combined
        logs[name] = repo.write_log(name, replace(completed, combined=completed.stdout))
    tree = TreeFacts.of(SourceTree(repo.work / "src"))
    return RepositoryScenario(repo, logs, tree, repo.snapshots())


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Pushgateway]:
    """A real Pushgateway of the test's own, on a free loopback port."""
    with started_pushgateway(tmp_path / "pushgateway") as started:
        yield started
