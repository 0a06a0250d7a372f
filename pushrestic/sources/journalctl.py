"""A systemd unit's latest run, from the journal: its output, its steps, its result.

:func:`read_unit_journal` runs ``journalctl`` twice. First newest first over
the unit's entries (``-u UNIT -r``), stopping at the first that names an
invocation: systemd's messages about the unit carry ``INVOCATION_ID``, the
unit's processes ``_SYSTEMD_INVOCATION_ID``. Then over every entry of that
invocation (``_SYSTEMD_INVOCATION_ID=ID + INVOCATION_ID=ID +
USER_INVOCATION_ID=ID``, only the fields needed, ``--all`` so that no long
field is left out). Entries are decoded one at a time;
:class:`~pushrestic.parsers.journal.InvocationReader` keeps the steps and the
result and hands back the output, which is spooled (in memory up to 1 MiB,
then to a temporary file) so that the returned lines are an iterator and
memory stays constant however much the unit printed.

Only system units are read (``journalctl -u``). Errors are InputError (or
InputUnreadable) with a one-line message naming the unit; a malformed
invocation ID or unit name is a UsageError.
"""

from __future__ import annotations

import json
import logging
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

from pushrestic.errors import InputError, InputUnreadable, UsageError
from pushrestic.parsers.journal import (
    Entry,
    InvocationReader,
    Step,
    latest_invocation_id,
    message_lines,
    normalize_invocation_id,
    outcome_from_environment,
)

__all__ = ["Step", "UnitJournal", "outcome_from_environment", "read_unit_journal", "unit_name"]

log = logging.getLogger(__name__)

# Fields read from each entry (journalctl adds the cursor, both timestamps and the boot ID).
FIND_FIELDS = ("_SYSTEMD_INVOCATION_ID", "_SYSTEMD_UNIT", "INVOCATION_ID", "USER_INVOCATION_ID")
READ_FIELDS = (
    "MESSAGE",
    "MESSAGE_ID",
    "_PID",
    "_COMM",
    "_CMDLINE",
    "_STREAM_ID",
    "SYSLOG_IDENTIFIER",
    "_SYSTEMD_INVOCATION_ID",
    "INVOCATION_ID",
    "USER_INVOCATION_ID",
    "EXIT_CODE",
    "EXIT_STATUS",
    "COMMAND",
    "UNIT_RESULT",
    "EXECUTABLE",
)
UNIT_SUFFIXES = (
    ".service",
    ".socket",
    ".target",
    ".device",
    ".mount",
    ".automount",
    ".swap",
    ".timer",
    ".path",
    ".slice",
    ".scope",
)
SPOOL_IN_MEMORY = 1 << 20
STOP_TIMEOUT = 10.0  # seconds to wait for journalctl once told to stop


@dataclass(frozen=True, slots=True)
class UnitJournal:
    """One invocation of a unit, as its journal shows it.

    ``lines`` are the unit's output lines (the MESSAGE of entries from its
    processes, not systemd's own messages), numbered from 1, in journal order:
    an iterator, to be read once. ``result`` is systemd's ("success",
    "exit-code", "signal", "timeout" …) when it logged one (not yet while the
    unit's ``ExecStopPost=`` runs); ``exit_code`` is the main process's exit
    status as a shell says it, when systemd logged it (it does for a failure).
    """

    unit: str
    invocation_id: str
    lines: Iterator[tuple[int, str]]
    steps: tuple[Step, ...]
    result: str | None
    exit_code: int | None


def unit_name(unit: str) -> str:
    """The unit's full name as journalctl matches it: ``backup`` is ``backup.service``.

    Raises UsageError for an empty name.
    """
    name = unit.strip()
    if not name:
        raise UsageError("the unit name is empty")
    if name.endswith(UNIT_SUFFIXES):
        return name
    return name + ".service"


def read_unit_journal(
    unit: str,
    *,
    directory: str | None = None,
    files: Sequence[str] = (),
    journalctl: str = "journalctl",
    invocation_id: str | None = None,
) -> UnitJournal:
    """Read the journal of ``unit``'s latest invocation (or of ``invocation_id``).

    ``directory`` (``journalctl -D``) or ``files`` (``--file``) read journal files
    instead of the system journal. Raises InputUnreadable when journalctl cannot
    be run or fails, InputError when the journal holds no entry for the unit or
    the invocation, UsageError for a malformed unit name or invocation ID.
    """
    name = unit_name(unit)
    source = f"journal of {name}"
    base = [journalctl, "--no-pager", "--all", "--output=json"]
    if directory is not None:
        base.append(f"--directory={directory}")
    base.extend(f"--file={path}" for path in files)
    if invocation_id is not None:
        wanted = normalize_invocation_id(invocation_id)
        if wanted is None:
            raise UsageError(f"not an invocation ID (32 hexadecimal digits): {invocation_id!r}")
    else:
        find = [*base, "--reverse", f"--unit={name}", f"--output-fields={','.join(FIND_FIELDS)}"]
        with _Journalctl(find, source) as process:
            wanted = latest_invocation_id(process.entries(), name)
            hint = process.stderr_line()
        if wanted is None:
            raise InputError(f"no journal entries for this unit{_hint(hint)}", source=source)
    read = [
        *base,
        f"--output-fields={','.join(READ_FIELDS)}",
        f"_SYSTEMD_INVOCATION_ID={wanted}",
        "+",
        f"INVOCATION_ID={wanted}",
        "+",
        f"USER_INVOCATION_ID={wanted}",
    ]
    reader = InvocationReader(wanted)
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 (closed by _spooled)
    try:
        with _Journalctl(read, source) as process:
            for entry in process.entries():
                text = reader.feed(entry)
                if text is not None:
                    for line in message_lines(text):
                        spool.write(line.encode("utf-8", "surrogatepass") + b"\n")
            hint = process.stderr_line()
        if reader.entries == 0:
            raise InputError(
                f"no journal entries for invocation {wanted}{_hint(hint)}", source=source
            )
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    steps = reader.steps()
    log.info(
        "%s: invocation %s, %d output entries, %d steps, result %s",
        name,
        wanted,
        reader.output_entries,
        len(steps),
        reader.result,
    )
    return UnitJournal(
        unit=name,
        invocation_id=wanted,
        lines=_spooled(spool),
        steps=steps,
        result=reader.result,
        exit_code=reader.exit_code,
    )


def _spooled(spool: IO[bytes]) -> Iterator[tuple[int, str]]:
    """The spooled lines, numbered from 1; the spool is closed at the end."""
    with spool:
        for number, raw in enumerate(spool, 1):
            yield number, raw[:-1].decode("utf-8", "surrogatepass")


def _hint(line: str) -> str:
    return f" (journalctl: {line})" if line else ""


class _Journalctl:
    """One journalctl run: its JSON lines decoded one at a time.

    Reading to the end checks journalctl's exit status; leaving early stops it.
    """

    def __init__(self, args: list[str], source: str) -> None:
        self.args = args
        self.source = source
        # Appending: journalctl shares the file's offset, which reading it moves.
        self._stderr = tempfile.TemporaryFile(mode="a+b")  # noqa: SIM115 (closed in __exit__)
        try:
            self._process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
            )
        except OSError as error:
            self._stderr.close()
            raise InputUnreadable(
                f"cannot run {args[0]}: {error.strerror or error}", source=source
            ) from None

    def __enter__(self) -> _Journalctl:
        return self

    def __exit__(self, *exc_info: object) -> None:
        process = self._process
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
        self._stderr.close()

    def entries(self) -> Iterator[Entry]:
        """Every entry journalctl prints; raises InputUnreadable when it fails."""
        stdout = self._process.stdout
        assert stdout is not None
        for number, raw in enumerate(stdout, 1):
            try:
                entry: Any = json.loads(raw)
            except ValueError:
                raise InputUnreadable(
                    f"journalctl printed something that is not JSON (line {number})",
                    source=self.source,
                ) from None
            if not isinstance(entry, dict):
                raise InputUnreadable(
                    f"journalctl printed something that is not an entry (line {number})",
                    source=self.source,
                )
            yield entry
        status = self._process.wait()
        if status != 0:
            reason = self.stderr_line() or f"exit status {status}"
            raise InputUnreadable(f"journalctl failed: {reason}", source=self.source)

    def stderr_line(self) -> str:
        """The first line journalctl wrote to standard error so far, if any; every
        line is logged."""
        self._stderr.flush()
        self._stderr.seek(0)
        lines = [
            line.strip()
            for line in self._stderr.read(1 << 16).decode("utf-8", "replace").splitlines()
        ]
        lines = [line for line in lines if line]
        for line in lines:
            log.debug("journalctl: %s", line)
        return lines[0] if lines else ""
