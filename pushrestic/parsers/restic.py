"""restic's output, text and ``--json``, for every version from 0.9 to 0.19.

One streaming parser handles both forms line by line, because real logs mix
them: fatal errors are plain text even with ``--json`` before 0.18, and
``forget --prune --json`` prints a JSON array followed by prune's text.

:class:`ResticParser` is fed numbered lines and keeps only counters and the
latest summary block, so memory stays constant however long the log is. The
latest summary wins, with the verdict restic prints after it (snapshot line,
``Warning:``, ``Fatal:``, ``exit_error``): file names printed raw by ``-vv`` up
to 0.15.1 can inject look-alike lines before it, and a script may run several.
:func:`parse_restic` is the pure entry point: lines in, a frozen
:class:`~pushrestic.model.ResticOutput` out. Unrecognized lines are ignored;
a recognized line whose values do not parse raises :class:`InputError`.
The lines handled here are those restic prints (its source at each release tag:
https://github.com/restic/restic/blob/master/internal/ui/backup/text.go and ``json.go``
beside it, ``cmd/restic/cmd_forget.go``, ``cmd_prune.go``, ``cmd_check.go``); real and
rebuilt logs of each are in ``tests/fixtures/samples/`` (see its ``manifest.json``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pushrestic.errors import InputError
from pushrestic.model import (
    BackupResult,
    BackupSummary,
    CheckResult,
    ForgetResult,
    PruneResult,
    ResticOutput,
)
from pushrestic.parsers.patterns import ascii_pattern
from pushrestic.parsers.units import SIZE_PATTERN, parse_duration, parse_size, parse_timestamp

NumberedLines = Iterable[tuple[int, str]]

# Lines that carry nothing this parser reports but that a backup is running, by
# their first bytes: JSON progress and per-item records, -vv per-item text lines.
# All are alike here, so the input layer may pass on only one in many (it drops
# the rest before decoding them); the result must not change.
SKIPPABLE_PREFIXES: tuple[bytes, ...] = (
    b'{"message_type":"status"',
    b'{"message_type":"verbose_status"',
    b"new       ",
    b"modified  ",
    b"unchanged ",
)
SKIPPABLE_TEXT = tuple(p.decode() for p in SKIPPABLE_PREFIXES)


_compile = ascii_pattern


def _exactly(*texts: str) -> Callable[[str], re.Match[str] | None]:
    """A matcher of a line that is one of ``texts``."""
    return _compile("|".join(re.escape(text) for text in texts)).fullmatch


def _starting(*texts: str) -> Callable[[str], re.Match[str] | None]:
    """A matcher of a line that starts with one of ``texts``."""
    return _compile("|".join(re.escape(text) for text in texts)).match


_ANSI = _compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_SIZE = f"({SIZE_PATTERN})"

_FILES = _compile(r"Files:\s+(\d+) new,\s+(\d+) changed,\s+(\d+) unmodified")
_DIRS = _compile(r"Dirs:\s+(\d+) new,\s+(\d+) changed,\s+(\d+) unmodified")
_BLOBS = _compile(r"(Data|Tree) Blobs:\s+(\d+) new")
_ADDED = _compile(
    rf"(Added|Would add)(?: to the repo(?:sitory)?)?:\s+{_SIZE}(?:\s+\({_SIZE}\s+stored\))?"
)
_PROCESSED = _compile(rf"processed (\d+) files, {_SIZE} in ((?:\d+:)?\d+:\d\d)")
_SNAPSHOT_SAVED = _compile(r"snapshot ([0-9a-f]{8,64}) saved")
_PARENT = _compile(r"using parent snapshot ([0-9a-f]{8,64})")
_UNREADABLE = _compile(
    r"Warning: (?:at least one source file could not be read"
    r"|failed to read all source data during backup)"
)
# The end of a -vv item line ('new       /path, saved in 0.002s (702 B added)', with
# ', 0 B stored' and ', 955 B metadata' as versions add them), after ', saved in '.
# Up to 0.15.1 a newline in a file name splits an item line, and its last piece
# may start like any other line: 'error: boom, saved in 0.000s (9 B added)'.
_ITEM_TAIL = _compile(
    rf"[0-9]+\.[0-9]+s \({SIZE_PATTERN} added(?:, {SIZE_PATTERN} stored)?"
    rf"(?:, {SIZE_PATTERN} metadata)?\)"
)
_MISSING_SOURCE = _compile(r".+ does not exist, skipping")
_INTERRUPT = _compile(r"signal \S+ received, cleaning up")
_VERSION = _compile(r"restic (\d+\.\d+\.\d+)\S* compiled with ")

_KEEP = _compile(r"keep (\d+) snapshots:")
_REMOVE = _compile(r"remove (\d+) snapshots:")
_REMOVED_ONE = _compile(r"removed snapshot [0-9a-f]{8,64}")
_FORGET_DRY = _compile(r"Would have removed the following snapshots:")
_FORGET_DRY_PRUNE = _compile(r"\d+ snapshots would be removed, running prune dry run")  # 0.16+

_PRUNE_ROW = _compile(
    rf"(to repack|this removes|to delete|total prune|remaining):?\s+(\d+) blobs / {_SIZE}"
)
_PRUNE_UNUSED = _compile(rf"unused size after prune: {_SIZE} \(")
_PRUNE_DRY = _compile(r"Would have (?:made the following changes|repacked and removed)")
_OLD_PRUNE_CONTAINS = _compile(rf"repository contains (\d+) packs \((\d+) blobs\) with {_SIZE}")
_OLD_PRUNE_FOUND = _compile(r"found (\d+) of (\d+) data blobs still in use, removing (\d+) blobs")
_OLD_PRUNE_FREES = _compile(rf"will delete (\d+) packs and rewrite (\d+) packs, this frees {_SIZE}")

# Lines restic prints that carry no value here but show the input is restic's.
_OTHER_RESTIC = _compile(
    r"open repository|lock repository|load index files|start (?:scan|backup) on \[.*\]"
    r"|scan finished in .*|no parent snapshot found, will read all files|skipped creating snapshot"
    r"|reading repository password from stdin"
    r"|Is there a repository at the following location\?"
    r"|loading indexes\.\.\.|loading all snapshots\.\.\."
    r"|searching used packs\.\.\.|collecting packs for deletion and repacking|done"
    r"|counting files in repo|building new index for repo"
    r"|Applying Policy: .*|no errors were found"
    r"|\[\d+:\d\d(?::\d\d)?\] .*"
)
_CHECK_READ = _compile(
    r"read (?:group #\d+ of \d+ data packs \(out of total \d+ packs in \d+ groups\)"
    r"|[0-9.]+% of data packs|\d+ bytes of data packs)"
)
# Its verdicts: 'LoadIndex returned errors' up to 0.16, then 'repository contains errors'
# for a damaged index too, after one of the repair hints (0.17+).
_CHECK_FATAL = ("Fatal: repository contains errors", "Fatal: LoadIndex returned errors")
_CHECK_HINTS = (
    "The repository index is damaged and must be repaired.",
    "The repository is damaged and must be repaired.",
    "The repository contains damaged pack files.",
)
# Commands whose output holds nothing to report (their JSON forms are handled in _json).
_INIT = _compile(r"created restic repository \S+ at .+")
_UNLOCK = _compile(r"successfully removed(?: \d+)? locks")
# ``restic snapshots`` as a table (internal/ui/table): header, footer, 0.19's time zone line.
# forget prints the same table, after lines that say forget.
_SNAPSHOTS_TABLE = _compile(
    r"ID +Time +Host +Tags(?: +Reasons)?(?: +Paths)?(?: +Size)?"
    r"|\d+ snapshots|Timestamps shown in .+"
)

_SUMMARY_INT_FIELDS = {
    "files_new": "files_new",
    "files_changed": "files_changed",
    "files_unmodified": "files_unmodified",
    "dirs_new": "dirs_new",
    "dirs_changed": "dirs_changed",
    "dirs_unmodified": "dirs_unmodified",
    "data_blobs": "data_blobs",
    "tree_blobs": "tree_blobs",
    "total_files_processed": "processed_files",
    "total_bytes_processed": "processed_bytes",
    "data_added": "added_bytes",
    "data_added_packed": "added_stored_bytes",
}


@dataclass(slots=True)
class _Prune:
    values: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False
    old_size: int | None = None


class ResticParser:
    """Incremental parser for one restic invocation's output (or a script running several).

    Feed numbered lines with :meth:`feed`, then call :meth:`result`. Holds only
    counters and the latest summary block.
    """

    def __init__(self, source: str = "") -> None:
        self._source = source
        self._lines = 0
        self._recognized = False
        self._block: dict[str, Any] | None = None
        self._summary: dict[str, Any] | None = None
        self._backup_seen = False
        self._snapshot_id: str | None = None
        self._parent_id: str | None = None
        self._skipped = False
        self._errors = 0  # per-file errors of a backup
        self._loose_errors = 0  # errors that name no file: a check's, or a backup's
        self._missing = 0
        self._unreadable = False
        self._kept = 0
        self._removed = 0
        self._forget_seen = False
        self._forget_dry = False
        self._prune: _Prune | None = None
        self._check_seen = False
        self._check_ok: bool | None = None
        self._check_errors: int | None = None
        self._fatal: str | None = None
        self._interrupted = False
        self._exit_error: int | None = None
        self._version: str | None = None
        self._section = ""
        self._unplaced_errors = 0  # 'error:' lines before any line that names the command
        self._unreported: list[str] = []  # restic commands seen whose output is not reported

    # -- feeding ---------------------------------------------------------

    def feed_all(self, lines: NumberedLines) -> ResticParser:
        for number, line in lines:
            self.feed(number, line)
        return self

    def feed(self, number: int, raw: str) -> None:
        """Take one line (without or with its line ending)."""
        self._lines = max(self._lines, number)
        if raw.startswith(SKIPPABLE_TEXT):
            # Checked on the line as read, as the input layer checks it before it
            # drops such lines: every one of them must have the same effect.
            self._recognized = self._backup_seen = True
            return
        line = raw.rstrip("\r\n")
        if "\r" in line:  # a terminal progress line rewritten in place: keep what stayed
            line = line.rsplit("\r", 1)[1] or line.replace("\r", "")
        if "\x1b" in line:
            line = _ANSI.sub("", line)
        line = line.strip()
        if not line:
            return
        if line.startswith(SKIPPABLE_TEXT):  # the same after an escape or indentation
            self._recognized = self._backup_seen = True
            return
        if line[0] in "{[":
            record = _load_json(line)
            if record is not None:
                self._json(number, record)
                return
        self._text(number, line)

    # -- text ------------------------------------------------------------

    def _text(self, number: int, line: str) -> None:
        """One text line: told by its first four characters (see _TEXT_RULES), then by
        the few lines that can start with anything."""
        if line[-1] == ")" and _is_item_tail(line):  # the rest of a -vv item line
            self._recognized = self._backup_seen = True
            return
        rules = _TEXT_RULES.get(line[:4])
        if rules is None and "0" <= line[0] <= "9":
            rules = _COUNT_RULES
        if rules is not None:
            for matcher, handle in rules:
                if (match := matcher(line)) is not None:
                    handle(self, number, match)
                    return
        if _MISSING_SOURCE.fullmatch(line):
            self._missing += 1
            self._errors += 1
            self._recognized = self._backup_seen = True
            return
        if not self._recognized or self._unreported:
            if _OTHER_RESTIC.fullmatch(line):
                self._recognized = True
            elif _SNAPSHOTS_TABLE.fullmatch(line):
                self._unreported_command("snapshots")

    # The handlers of _TEXT_RULES: ``match`` is the rule's match, ``match.string`` the line.

    def _on_files(self, number: int, match: re.Match[str]) -> None:
        self._new_block()["files"] = tuple(int(x) for x in match.groups())

    def _on_dirs(self, number: int, match: re.Match[str]) -> None:
        self._current_block()["dirs"] = tuple(int(x) for x in match.groups())

    def _on_blobs(self, number: int, match: re.Match[str]) -> None:
        self._current_block()[match.group(1).lower() + "_blobs"] = int(match.group(2))

    def _on_added(self, number: int, match: re.Match[str]) -> None:
        block = self._current_block()
        block["added"] = self._size(number, match.group(2))
        if match.group(3) is not None:
            block["stored"] = self._size(number, match.group(3))
        block["dry_run"] = match.group(1) == "Would add"

    def _on_processed(self, number: int, match: re.Match[str]) -> None:
        block = self._current_block()
        block["processed_files"] = int(match.group(1))
        block["processed_bytes"] = self._size(number, match.group(2))
        block["duration"] = self._duration(number, match.group(3))

    def _on_snapshot_saved(self, number: int, match: re.Match[str]) -> None:
        self._snapshot_id = match.group(1)
        self._backup_seen = self._recognized = True
        self._section = "backup"

    def _on_snapshot_skipped(self, number: int, match: re.Match[str]) -> None:
        self._skipped = self._backup_seen = self._recognized = True

    def _on_parent(self, number: int, match: re.Match[str]) -> None:
        self._parent_id = match.group(1)
        self._backup_seen = self._recognized = True
        self._section = "backup"

    def _on_no_parent(self, number: int, match: re.Match[str]) -> None:
        self._backup_seen = self._recognized = True
        self._section = "backup"

    def _on_error(self, number: int, match: re.Match[str]) -> None:
        if self._section == "check":
            self._loose_errors += 1
        elif self._section:
            self._errors += 1
        else:  # a backup's or a check's: attributed in result()
            self._unplaced_errors += 1
        self._recognized = True

    def _on_unreadable(self, number: int, match: re.Match[str]) -> None:
        self._unreadable = self._backup_seen = self._recognized = True

    def _on_check_fatal(self, number: int, match: re.Match[str]) -> None:
        self._check_line()
        self._set_fatal(match.string)

    def _on_fatal(self, number: int, match: re.Match[str]) -> None:
        self._set_fatal(match.string)

    def _on_interrupt(self, number: int, match: re.Match[str]) -> None:
        self._interrupted = True
        self._set_fatal(match.string)

    def _on_version(self, number: int, match: re.Match[str]) -> None:
        self._version = match.group(1)
        self._unreported_command("version")

    def _on_init(self, number: int, match: re.Match[str]) -> None:
        self._unreported_command("init")

    def _on_unlock(self, number: int, match: re.Match[str]) -> None:
        self._unreported_command("unlock")

    def _on_check(self, number: int, match: re.Match[str]) -> None:
        self._check_line()

    def _on_no_errors(self, number: int, match: re.Match[str]) -> None:
        self._check_seen = self._recognized = True
        self._check_ok = True
        self._section = "check"

    def _on_keep(self, number: int, match: re.Match[str]) -> None:
        self._kept += int(match.group(1))
        self._forget_seen = self._recognized = True
        self._section = "forget"

    def _on_remove(self, number: int, match: re.Match[str]) -> None:
        self._removed += int(match.group(1))
        self._forget_seen = self._recognized = True
        self._section = "forget"

    def _on_removed_one(self, number: int, match: re.Match[str]) -> None:
        self._removed += 1
        self._forget_seen = self._recognized = True

    def _on_policy(self, number: int, match: re.Match[str]) -> None:
        self._forget_seen = self._recognized = True
        self._section = "forget"

    def _on_forget_dry_run(self, number: int, match: re.Match[str]) -> None:
        self._forget_seen = self._forget_dry = self._recognized = True

    def _on_prune_dry_run(self, number: int, match: re.Match[str]) -> None:
        self._prune_state().dry_run = True
        self._recognized = True

    def _on_prune_row(self, number: int, match: re.Match[str]) -> None:
        prune = self._prune_state()
        key = match.group(1).replace(" ", "_")
        prune.values[key + "_blobs"] = int(match.group(2))
        prune.values[key + "_bytes"] = self._size(number, match.group(3))

    def _on_prune_unused(self, number: int, match: re.Match[str]) -> None:
        self._prune_state().values["unused_bytes"] = self._size(number, match.group(1))

    def _on_old_prune_contains(self, number: int, match: re.Match[str]) -> None:
        self._prune_state().old_size = self._size(number, match.group(3))

    def _on_old_prune_found(self, number: int, match: re.Match[str]) -> None:
        self._prune_state().values["total_prune_blobs"] = int(match.group(3))

    def _on_old_prune_frees(self, number: int, match: re.Match[str]) -> None:
        prune = self._prune_state()
        prune.values["total_prune_bytes"] = self._size(number, match.group(3))
        prune.values["rewrite_packs"] = int(match.group(2))

    # -- JSON ------------------------------------------------------------

    def _json(self, number: int, record: Any) -> None:
        if isinstance(record, list):
            self._json_forget(number, record)
            return
        if not isinstance(record, dict):
            return
        kind = record.get("message_type")
        if kind == "summary":
            self._json_summary(number, record)
        elif kind == "error":
            self._json_error(record)
        elif kind == "exit_error":
            self._json_exit_error(number, record)
        elif kind in ("status", "verbose_status"):
            self._recognized = self._backup_seen = True
        elif kind == "version" or (kind is None and "go_version" in record):
            version = record.get("version")
            if isinstance(version, str):
                self._version = version
            self._unreported_command("version")
        elif kind == "initialized":  # init --json (0.15+)
            self._unreported_command("init")

    def _json_summary(self, number: int, record: dict[str, Any]) -> None:
        """A check's summary (0.18+) or a backup's."""
        self._recognized = True
        if "num_errors" in record:
            self._check_seen = True
            errors = _int(record, "num_errors", number, self._source)
            self._check_errors = errors
            self._check_ok = errors == 0
        else:
            self._json_backup_summary(number, record)

    def _json_error(self, record: dict[str, Any]) -> None:
        self._recognized = True
        if "during" in record or "item" in record:  # backup: a file could not be read
            # The scanner's errors (only counting files for the progress) do not
            # raise restic's error count, nor its exit code; the archiver's do.
            if record.get("during") != "scan":
                self._errors += 1
            self._backup_seen = True
        else:  # check (0.18+) and anything else: attributed in result()
            self._loose_errors += 1

    def _json_exit_error(self, number: int, record: dict[str, Any]) -> None:
        self._recognized = True
        self._exit_error = _int(record, "code", number, self._source)
        message = record.get("message")
        text = message if isinstance(message, str) else ""
        if self._exit_error == 3 or _UNREADABLE.match(text):
            self._unreadable = True
        elif self._exit_error != 0:
            self._set_fatal(text.split("\n", 1)[0] or f"exit code {self._exit_error}")

    def _json_backup_summary(self, number: int, record: dict[str, Any]) -> None:
        values: dict[str, Any] = {}
        for key, attribute in _SUMMARY_INT_FIELDS.items():
            if key in record:
                values[attribute] = _int(record, key, number, self._source)
        if "total_duration" in record:
            values["duration_seconds"] = _float(record, "total_duration", number, self._source)
        for key, attribute in (("backup_start", "started_at"), ("backup_end", "ended_at")):
            if key in record:
                values[attribute] = _time(record, key, number, self._source)
        dry_run = record.get("dry_run", False)
        if not isinstance(dry_run, bool):
            raise InputError("'dry_run' is not true or false", source=self._source, line=number)
        values["dry_run"] = dry_run
        snapshot = record.get("snapshot_id")
        if snapshot is not None and not isinstance(snapshot, str):
            raise InputError("'snapshot_id' is not a string", source=self._source, line=number)
        self._end_previous_run()
        self._summary = values
        self._block = None
        self._snapshot_id = snapshot or None
        self._skipped = snapshot is None and not dry_run
        self._backup_seen = True
        self._section = "backup"

    def _json_forget(self, number: int, groups: list[Any]) -> None:
        forget_groups = [g for g in groups if isinstance(g, dict) and "keep" in g]
        if not forget_groups:
            return
        for group in forget_groups:
            for key in ("keep", "remove"):
                items = group.get(key)
                if items is not None and not isinstance(items, list):
                    raise InputError(
                        f"forget '{key}' is not a list", source=self._source, line=number
                    )
            self._kept += len(group.get("keep") or [])
            self._removed += len(group.get("remove") or [])
        self._forget_seen = self._recognized = True
        self._section = "forget"

    # -- helpers ---------------------------------------------------------

    def _new_block(self) -> dict[str, Any]:
        self._end_previous_run()
        self._block = {}
        self._summary = None  # the latest summary wins, text or JSON
        self._recognized = self._backup_seen = True
        self._section = "backup"
        return self._block

    def _end_previous_run(self) -> None:
        """A summary starts: forget how an earlier run ended, as its summary is forgotten.

        restic prints its verdict (snapshot line, 'Warning:', 'Fatal:', exit_error)
        only after the summary, so one seen before it belongs to an earlier run in
        the same log, or was injected by a file name (-vv up to 0.15.1). An
        interrupt is kept: the run it stopped may still print a summary.
        """
        self._fatal = None
        self._exit_error = None
        self._unreadable = False
        self._snapshot_id = None
        self._skipped = False

    def _current_block(self) -> dict[str, Any]:
        return self._block if self._block is not None else self._new_block()

    def _prune_state(self) -> _Prune:
        if self._prune is None:
            self._prune = _Prune()
        self._recognized = True
        self._section = "prune"
        return self._prune

    def _check_line(self) -> None:
        """A line only ``restic check`` prints was seen."""
        self._check_seen = self._recognized = True
        self._section = "check"

    def _unreported_command(self, command: str) -> None:
        """A line of a restic command whose output pushrestic does not report."""
        self._recognized = True
        if command not in self._unreported:
            self._unreported.append(command)

    @property
    def unreported_commands(self) -> tuple[str, ...]:
        """The restic commands seen (in order) whose output holds nothing to report:
        ``init``, ``unlock``, ``version``, ``snapshots`` (the table)."""
        return tuple(self._unreported)

    def _set_fatal(self, message: str) -> None:
        self._recognized = True
        if self._fatal is None:
            self._fatal = message
        if self._section == "check" and self._check_ok is None:
            self._check_ok = False

    def _size(self, number: int, text: str) -> int:
        try:
            return parse_size(text)
        except ValueError as error:
            raise InputError(str(error), source=self._source, line=number) from None

    def _duration(self, number: int, text: str) -> int:
        try:
            return parse_duration(text)
        except ValueError as error:
            raise InputError(str(error), source=self._source, line=number) from None

    # -- result ----------------------------------------------------------

    def result(self) -> ResticOutput:
        """The frozen result of everything fed so far."""
        return ResticOutput(
            backup=self._backup_result(),
            forget=(
                ForgetResult(self._kept, self._removed, self._forget_dry)
                if self._forget_seen
                else None
            ),
            prune=self._prune_result(),
            check=(
                CheckResult(
                    ok=self._check_ok if self._check_ok is not None else False,
                    errors=(
                        self._check_errors
                        if self._check_errors is not None
                        else self._loose_errors + self._check_unplaced_errors() or None
                    ),
                )
                if self._check_seen
                else None
            ),
            fatal=self._fatal,
            interrupted=self._interrupted,
            exit_error_code=self._exit_error,
            missing_sources=self._missing,
            restic_version=self._version,
            lines=self._lines,
            recognized=self._recognized,
        )

    def _check_unplaced_errors(self) -> int:
        """'error:' lines seen before any line naming the command are a check's when
        the output shows a check and no backup (stderr can come first in a log)."""
        return self._unplaced_errors if self._check_seen and not self._backup_seen else 0

    def _backup_result(self) -> BackupResult | None:
        summary = self._summary_result()
        errors = self._errors + (0 if self._check_seen else self._loose_errors)
        errors += self._unplaced_errors - self._check_unplaced_errors()
        other = self._check_seen or self._forget_seen or self._prune is not None
        if summary is None and not self._backup_seen and (not errors or other):
            return None
        return BackupResult(
            summary=summary,
            snapshot_id=self._snapshot_id,
            parent_snapshot_id=self._parent_id,
            snapshot_skipped=self._skipped,
            errors=errors,
            unreadable_warning=self._unreadable,
        )

    def _summary_result(self) -> BackupSummary | None:
        if self._summary is not None:
            return BackupSummary(**self._summary)
        block = self._block
        if block is None:
            return None
        files = block.get("files", (None, None, None))
        dirs = block.get("dirs", (None, None, None))
        return BackupSummary(
            files_new=files[0],
            files_changed=files[1],
            files_unmodified=files[2],
            dirs_new=dirs[0],
            dirs_changed=dirs[1],
            dirs_unmodified=dirs[2],
            data_blobs=block.get("data_blobs"),
            tree_blobs=block.get("tree_blobs"),
            processed_files=block.get("processed_files"),
            processed_bytes=block.get("processed_bytes"),
            added_bytes=block.get("added"),
            added_stored_bytes=block.get("stored"),
            duration_seconds=block.get("duration"),
            dry_run=bool(block.get("dry_run", False)),
        )

    def _prune_result(self) -> PruneResult | None:
        prune = self._prune
        if prune is None:
            return None
        values = prune.values
        remaining = values.get("remaining_bytes")
        freed = values.get("total_prune_bytes")
        if remaining is None and prune.old_size is not None and freed is not None:
            remaining = prune.old_size - freed
        return PruneResult(
            removed_blobs=values.get("total_prune_blobs"),
            freed_bytes=freed,
            repacked_blobs=values.get("to_repack_blobs"),
            repacked_bytes=values.get("to_repack_bytes"),
            remaining_blobs=values.get("remaining_blobs"),
            repository_size_bytes=remaining,
            unused_bytes=values.get("unused_bytes"),
            dry_run=prune.dry_run,
            deleted_blobs=values.get("to_delete_blobs"),
            repack_removed_blobs=values.get("this_removes_blobs"),
        )


# How ResticParser._text tells a text line: by its first four characters, the rules to try
# in order. A rule is a matcher (a pattern's fullmatch: the whole line; its match: how the
# line starts) and the handler of the match. A line no rule takes may still be one of the
# few that start with anything (a missing source, the lines that only show restic's).
_Rule = tuple[
    Callable[[str], re.Match[str] | None], Callable[[ResticParser, int, re.Match[str]], None]
]
_P = ResticParser

_ADDED_RULE: _Rule = (_ADDED.fullmatch, _P._on_added)
_BLOBS_RULE: _Rule = (_BLOBS.fullmatch, _P._on_blobs)
_PRUNE_ROW_RULE: _Rule = (_PRUNE_ROW.fullmatch, _P._on_prune_row)

_TEXT_RULES: dict[str, tuple[_Rule, ...]] = {
    # backup
    "File": ((_FILES.fullmatch, _P._on_files),),
    "Dirs": ((_DIRS.fullmatch, _P._on_dirs),),
    "Data": (_BLOBS_RULE,),
    "Tree": (_BLOBS_RULE,),
    "Adde": (_ADDED_RULE,),
    "Woul": (
        _ADDED_RULE,
        (_FORGET_DRY.fullmatch, _P._on_forget_dry_run),
        (_PRUNE_DRY.match, _P._on_prune_dry_run),
    ),
    "proc": ((_PROCESSED.fullmatch, _P._on_processed),),
    "snap": ((_SNAPSHOT_SAVED.fullmatch, _P._on_snapshot_saved),),
    "skip": ((_exactly("skipped creating snapshot"), _P._on_snapshot_skipped),),
    "usin": (
        (_PARENT.fullmatch, _P._on_parent),
        (_starting("using temporary cache in "), _P._on_check),  # check only
    ),
    "no p": ((_exactly("no parent snapshot found, will read all files"), _P._on_no_parent),),
    "Warn": ((_UNREADABLE.match, _P._on_unreadable),),
    # any command's verdicts
    "erro": ((_starting("error: "), _P._on_error),),
    "Fata": (
        (_exactly(*_CHECK_FATAL), _P._on_check_fatal),
        (_starting("Fatal: "), _P._on_fatal),
    ),
    "unab": ((_starting("unable to create lock in backend: "), _P._on_fatal),),
    "sign": ((_INTERRUPT.fullmatch, _P._on_interrupt),),
    # commands whose output holds nothing to report
    "rest": ((_VERSION.match, _P._on_version),),
    "crea": (
        (_INIT.fullmatch, _P._on_init),
        (_exactly("create exclusive lock for repository"), _P._on_check),
    ),
    "succ": ((_UNLOCK.fullmatch, _P._on_unlock),),
    # check: lines only it prints (cmd_check.go, 0.9 to 0.19); the lock line is left out
    # by --no-lock, so every other one must say "check" on its own
    "The ": ((_starting(*_CHECK_HINTS), _P._on_check),),
    "read": (
        (_CHECK_READ.fullmatch, _P._on_check),
        (_exactly("read all data", "read all filtered data"), _P._on_check),  # 0.18+
    ),
    "load": ((_exactly("load indexes"), _P._on_check),),
    "chec": ((_exactly("check all packs", "check snapshots, trees and blobs"), _P._on_check),),
    "no e": ((_exactly("no errors were found"), _P._on_no_errors),),
    # forget
    "keep": ((_KEEP.fullmatch, _P._on_keep),),
    "remo": ((_REMOVE.fullmatch, _P._on_remove), (_REMOVED_ONE.fullmatch, _P._on_removed_one)),
    "Appl": ((_starting("Applying Policy: "), _P._on_policy),),
    # prune, 0.12+ ('to repack:  69 blobs / 1.078 MiB') and before it
    "to r": (_PRUNE_ROW_RULE,),
    "this": (_PRUNE_ROW_RULE,),
    "to d": (_PRUNE_ROW_RULE,),
    "tota": (_PRUNE_ROW_RULE,),
    "rema": (_PRUNE_ROW_RULE,),
    "unus": ((_PRUNE_UNUSED.match, _P._on_prune_unused),),
    "repo": ((_OLD_PRUNE_CONTAINS.fullmatch, _P._on_old_prune_contains),),
    "foun": ((_OLD_PRUNE_FOUND.fullmatch, _P._on_old_prune_found),),
    "will": ((_OLD_PRUNE_FREES.fullmatch, _P._on_old_prune_frees),),
}
# Lines that start with a count: '3 snapshots would be removed, running prune dry run'.
_COUNT_RULES: tuple[_Rule, ...] = ((_FORGET_DRY_PRUNE.fullmatch, _P._on_forget_dry_run),)


def parse_restic(lines: NumberedLines, *, source: str = "") -> ResticOutput:
    """Parse one restic invocation's output: numbered lines in, ResticOutput out."""
    return ResticParser(source).feed_all(lines).result()


def numbered(lines: Iterable[str]) -> NumberedLines:
    """Number plain lines from 1, for the parsers' input."""
    return enumerate(lines, 1)


def _is_item_tail(line: str) -> bool:
    """Whether ``line`` ends the way a -vv item line ends (see _ITEM_TAIL)."""
    _, separator, tail = line.rpartition(", saved in ")
    return bool(separator) and _ITEM_TAIL.fullmatch(tail) is not None


def _load_json(line: str) -> Any:
    """The JSON value of a line, or None when the line is not JSON (or nests too deep)."""
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        return None


def _int(record: dict[str, Any], key: str, number: int, source: str) -> int:
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or (value < 0 and key != "code"):
        raise InputError(
            f"'{key}' is not a whole number: {value!r:.40}", source=source, line=number
        )
    return value


def _float(record: dict[str, Any], key: str, number: int, source: str) -> float:
    value = record.get(key)
    seconds = math.nan
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:  # an integer too large for a float
            seconds = math.inf
    if not math.isfinite(seconds) or seconds < 0:
        raise InputError(
            f"'{key}' is not a number of seconds: {value!r:.40}", source=source, line=number
        )
    return seconds


def _time(record: dict[str, Any], key: str, number: int, source: str) -> float:
    value = record.get(key)
    try:
        if not isinstance(value, str):
            raise ValueError(f"{value!r}")
        return parse_timestamp(value)
    except ValueError as error:
        raise InputError(f"'{key}' is not a time: {error}", source=source, line=number) from None
