"""The journal of one invocation of a systemd unit: its output lines, its steps, its result.

Pure: journal entries as ``journalctl -o json`` prints them (decoded JSON objects) in,
typed values out; no I/O. :class:`InvocationReader` takes the entries of one invocation in
journal order, one at a time, and hands back each output entry's text, in constant memory.
How steps, their times and their names are read from what systemd logs, and the limits of
that: docs/design/parsers-journal.md.
"""

from __future__ import annotations

import fnmatch
import itertools
import re
import signal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pushrestic.errors import InputError

Entry = Mapping[str, object]

# MESSAGE_IDs of the service manager's messages (systemd's sd-messages.h).
MESSAGE_UNIT_STARTING = "7d4958e842da4a758f6c1cdc7b36dcc5"  # "Starting …"
MESSAGE_UNIT_STARTED = "39f53479d3a045ac8e11786248231fbf"  # start job done: "Started"/"Finished"
MESSAGE_UNIT_FAILED = "be02cf6855d2428ba40df7e9d022f03d"  # start job failed: "Failed to start"
MESSAGE_UNIT_SUCCESS = "7ad2d189f7e94e70a38c781354912448"  # "Deactivated successfully."
MESSAGE_UNIT_FAILURE_RESULT = "d9b373ed55a64feb8242e02dbe79a49c"  # "Failed with result 'x'."
MESSAGE_UNIT_SKIPPED = "0e4284a0caca4bfc81c0bb6786972673"  # "Skipped due to 'x'."
MESSAGE_UNIT_PROCESS_EXIT = "98e322203f7a4ed290d09fe03c09fe15"  # "Main process exited, …"

# The kinds of command in the order a service runs them (ExecReload= runs at any time
# while the service is up, so it has no place in this order).
EXEC_ORDER = (
    "ExecCondition",
    "ExecStartPre",
    "ExecStart",
    "ExecStartPost",
    "ExecStop",
    "ExecStopPost",
)
_START_PHASE = frozenset(EXEC_ORDER[:4])
_RANK = {kind: rank for rank, kind in enumerate(EXEC_ORDER)}

# Fallbacks for messages without their structured fields.
_EXIT_TEXT = re.compile(
    r"(?:^|: )(?P<who>Main|Control|Condition check) process exited, "
    r"code=(?P<code>exited|killed|dumped), status=(?P<status>[0-9]+)(?:/(?P<name>\S+))?",
    re.ASCII,
)
_FAILED_TEXT = re.compile(r"(?:^|: )Failed with result '(?P<result>[^']+)'\.")
_SKIPPED_TEXT = re.compile(r"(?:^|: )Skipped due to '(?P<result>[^']+)'\.")
_SUCCESS_TEXT = re.compile(r"(?:^|: )Deactivated successfully\.$")
_PROCESS_KINDS = {"Main": "ExecStart", "Condition check": "ExecCondition"}
_ID = re.compile(r"[0-9a-f]{32}", re.ASCII)
_COMM_LENGTH = 15  # the kernel keeps 15 bytes of a process's name
_ENVIRONMENT = "systemd ExecStopPost environment"


@dataclass(frozen=True, slots=True)
class Step:
    """One command of the unit, as far as the journal shows it (docs/design/parsers-journal.md).

    ``name`` is the command's kind when the journal proves it, else ``command``,
    numbered (``#2``, ``#3`` …) when an earlier step has the name; ``exit_status``
    is the exit status as a shell gives it (128 + signal when killed), known only
    when systemd logged the exit (a failure, or debug level).
    """

    name: str
    command: str
    started_at: float
    ended_at: float
    exit_status: int | None


def normalize_invocation_id(value: str) -> str | None:
    """An invocation ID as the journal writes it (32 lowercase hex digits), or None."""
    candidate = value.strip().lower().replace("-", "")
    return candidate if _ID.fullmatch(candidate) else None


def field_text(entry: Entry, name: str) -> str | None:
    """A field's value as text: ``journalctl -o json`` prints a string, an array of
    byte values (binary or not valid UTF-8), or an array of those when the field
    occurs more than once (the first is taken); None when absent or too large."""
    value = entry.get(name)
    if isinstance(value, list) and value and not all(isinstance(b, int) for b in value):
        value = value[0]
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(b, int) and 0 <= b < 256 for b in value):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def entry_time(entry: Entry) -> float:
    """The entry's ``__REALTIME_TIMESTAMP`` (when journald received it) as Unix time."""
    raw = field_text(entry, "__REALTIME_TIMESTAMP")
    if raw is None or not raw.isascii() or not raw.isdigit():
        raise InputError(f"journal entry with a bad __REALTIME_TIMESTAMP: {raw!r}")
    return int(raw) / 1_000_000


def message_lines(text: str) -> list[str]:
    """The lines of one entry's MESSAGE: a stream entry is one line already; a
    message logged natively may hold several."""
    return text.removesuffix("\n").split("\n")


def entry_invocation_id(entry: Entry, unit: str) -> str | None:
    """The invocation an entry of ``journalctl -u UNIT`` belongs to, if it says.

    systemd's messages about the unit carry ``INVOCATION_ID`` (``USER_INVOCATION_ID``
    from a user's manager); the unit's own processes ``_SYSTEMD_INVOCATION_ID``,
    which is taken only when ``_SYSTEMD_UNIT`` is the unit (a message from PID 1
    carries PID 1's own); ``unit`` may be a pattern, as ``journalctl -u`` takes.
    """
    for name in ("INVOCATION_ID", "USER_INVOCATION_ID"):
        value = field_text(entry, name)
        if value and normalize_invocation_id(value):
            return normalize_invocation_id(value)
    value = field_text(entry, "_SYSTEMD_INVOCATION_ID")
    own_unit = field_text(entry, "_SYSTEMD_UNIT")
    if value and own_unit and fnmatch.fnmatchcase(own_unit, unit):
        return normalize_invocation_id(value)
    return None


def latest_invocation_id(newest_first: Iterable[Entry], unit: str) -> str | None:
    """The invocation of the newest entry that names one (entries newest first)."""
    for entry in newest_first:
        found = entry_invocation_id(entry, unit)
        if found:
            return found
    return None


def shell_exit_status(code: str | None, status: str | None) -> int | None:
    """systemd's (``EXIT_CODE``, ``EXIT_STATUS``) as a shell says it: the status of a
    process that exited, 128 + the signal of one killed (``killed``/``dumped``).

    ``status`` is a number, or a signal's name (``TERM``, ``SIGKILL``, ``RTMIN+3``)
    as systemd writes it for a signal. None when ``status`` is missing; raises
    ValueError when it makes no sense.
    """
    if status is None or not status.strip():
        return None
    status = status.strip()
    numeric = status.isascii() and status.isdigit()
    number = int(status) if numeric else _signal_number(status)
    if not code:
        code = "exited" if numeric else "killed"
    if code == "exited":
        if not numeric:
            raise ValueError(f"exit status {status!r} is not a number")
        if not 0 <= number <= 255:
            raise ValueError(f"exit status {number} out of range")
        return number
    if code in ("killed", "dumped"):
        if not 0 < number < 128:
            raise ValueError(f"signal {number} out of range")
        return 128 + number
    raise ValueError(f"unknown exit code kind {code!r}")


def _signal_number(name: str) -> int:
    upper = name.upper().removeprefix("SIG")
    base, plus, offset = upper.partition("+")
    if base == "RTMIN" and (not plus or offset.isdigit()):
        return int(signal.SIGRTMIN) + (int(offset) if plus else 0)
    try:
        return int(signal.Signals["SIG" + upper])
    except KeyError:
        raise ValueError(f"unknown signal {name!r}") from None


def outcome_from_environment(environ: Mapping[str, str]) -> tuple[str | None, int | None]:
    """The unit's result and its main process's exit code, inside ``ExecStopPost=``.

    systemd sets ``$SERVICE_RESULT`` (``success``, ``exit-code``, ``signal``,
    ``timeout`` …), and, when the main process has exited, ``$EXIT_CODE``
    (``exited``, ``killed``, ``dumped``) and ``$EXIT_STATUS`` (the status, or the
    signal's name). The exit code is as a shell says it: the status, or 128 + the
    signal. Either is None when not set. Raises InputError naming the variable
    when a value does not parse.
    """
    result = environ.get("SERVICE_RESULT", "").strip() or None
    code = environ.get("EXIT_CODE", "").strip() or None
    status = environ.get("EXIT_STATUS")
    try:
        exit_code = shell_exit_status(code, status)
    except ValueError as error:
        name = "EXIT_STATUS" if code in (None, "exited", "killed", "dumped") else "EXIT_CODE"
        raise InputError(f"{name}: {error}", source=_ENVIRONMENT) from None
    return result, exit_code


@dataclass(frozen=True, slots=True)
class _Exit:
    """A process-exit message of systemd: which kind of command, how it ended."""

    kind: str | None
    status: int | None
    failed: bool
    at: float
    after_started: bool  # the start job had finished: the service was up (not oneshot)


@dataclass(slots=True)
class _StepState:
    key: str
    command: str
    first_at: float
    last_at: float
    started_at: float
    kind: str | None = None
    exit_status: int | None = None
    exit_at: float | None = None
    result_at: float | None = None


class InvocationReader:
    """Reads the entries of one invocation, in journal order, one at a time.

    :meth:`feed` returns the text of each entry that is the unit's output (None
    for systemd's messages); :meth:`steps`, :attr:`result` and :attr:`exit_code`
    tell what the entries fed so far show. Raises InputError for an entry
    without a valid ``__REALTIME_TIMESTAMP``.
    """

    def __init__(self, invocation_id: str) -> None:
        normalized = normalize_invocation_id(invocation_id)
        if normalized is None:
            raise ValueError(f"not an invocation ID: {invocation_id!r}")
        self.invocation_id = normalized
        self.result: str | None = None
        self.exit_code: int | None = None
        self.output_entries = 0
        self.entries = 0
        self._steps: dict[str, _StepState] = {}
        # (position, exit): position = how many steps had begun when it was logged.
        self._exits: list[tuple[int, _Exit]] = []
        self._previous: tuple[str, float, str | None] | None = None  # (kind, time, step key)
        self._started = False

    def feed(self, entry: Entry) -> str | None:
        """Take the next entry; its MESSAGE when it is output of the unit's processes."""
        own = normalize_invocation_id(field_text(entry, "_SYSTEMD_INVOCATION_ID") or "")
        about = None
        for name in ("INVOCATION_ID", "USER_INVOCATION_ID"):
            about = about or normalize_invocation_id(field_text(entry, name) or "")
        if self.invocation_id not in (own, about):
            return None
        at = entry_time(entry)
        self.entries += 1
        message = field_text(entry, "MESSAGE")
        if about == self.invocation_id:
            # systemd's message; one logged from a forked child of the unit (a failed
            # exec) also marks that process's step.
            key = f"pid:{field_text(entry, '_PID')}" if own == self.invocation_id else None
            if key is not None:
                self._touch(key, entry, at)
            self._event(entry, message or "", at, key)
            return None
        stream = field_text(entry, "_STREAM_ID")
        if stream:
            key = f"stream:{stream}"
        elif self._steps:  # syslog(3) or native logging: from the running step's processes
            key = next(reversed(self._steps))
        else:
            key = f"pid:{field_text(entry, '_PID')}"
        self._touch(key, entry, at)
        self._previous = ("output", at, key)
        self.output_entries += 1
        return message if message is not None else ""

    def _touch(self, key: str, entry: Entry, at: float) -> None:
        step = self._steps.get(key)
        if step is None:
            started_at = at
            if self._previous is not None and self._previous[0] in ("start", "exit"):
                started_at = min(at, self._previous[1])
            self._steps[key] = _StepState(key, command_name(entry), at, at, started_at)
            return
        step.last_at = max(step.last_at, at)
        if not step.command:
            step.command = command_name(entry)

    def _event(self, entry: Entry, message: str, at: float, key: str | None) -> None:
        message_id = (field_text(entry, "MESSAGE_ID") or "").lower()
        kind = "other"
        if message_id == MESSAGE_UNIT_STARTING or (
            not message_id and message.startswith("Starting ")
        ):
            kind = "start"
        elif message_id == MESSAGE_UNIT_PROCESS_EXIT or _EXIT_TEXT.search(message):
            kind = "exit"
            self._exit(entry, message, at, key)
        elif message_id == MESSAGE_UNIT_STARTED:
            self._started = True
        else:
            result = _result(entry, message_id, message)
            if result is not None:
                kind = "result"
                self.result = result
                if self._previous is not None and self._previous[0] == "output":
                    step = self._steps[str(self._previous[2])]
                    if step.exit_at is None:
                        step.result_at = at
        self._previous = (kind, at, key)

    def _exit(self, entry: Entry, message: str, at: float, key: str | None) -> None:
        match = _EXIT_TEXT.search(message)
        command = field_text(entry, "COMMAND")
        if command not in _RANK and command != "ExecReload":
            command = _PROCESS_KINDS.get(match["who"]) if match else None
        code = field_text(entry, "EXIT_CODE") or (match["code"] if match else None)
        status = field_text(entry, "EXIT_STATUS") or (match["status"] if match else None)
        try:
            shell_status = shell_exit_status(code, status)
        except ValueError as error:
            raise InputError(f"systemd's exit message: {error}") from None
        failed = shell_status != 0 and not message.rstrip().endswith("(success)")
        exit_ = _Exit(command, shell_status, failed, at, self._started)
        if command == "ExecStart":
            self.exit_code = shell_status
        step = self._steps.get(key) if key is not None else self._attributable(command)
        if step is not None:
            step.kind = command or step.kind
            step.exit_status = shell_status
            step.exit_at = at
        self._exits.append((len(self._steps), exit_))

    def _attributable(self, kind: str | None) -> _StepState | None:
        """The step an exit message is about: the latest step, unless it has its own
        exit already (then the process that exited printed nothing) or a step before
        it is of a later kind."""
        if not self._steps:
            return None
        steps = list(self._steps.values())
        latest = steps[-1]
        if latest.exit_at is not None:
            return None
        if kind in _RANK:
            later = [s for s in steps[:-1] if s.kind in _RANK and _RANK[s.kind] > _RANK[kind]]
            if later:
                return None
        return latest

    def steps(self) -> tuple[Step, ...]:
        """The steps seen so far, in the order of their first line, named as
        docs/design/parsers-journal.md says."""
        states = list(self._steps.values())
        kinds: list[str | None] = [s.kind for s in states]
        # After a failed command of the start phase, systemd runs only ExecStopPost=
        # (a main process that fails once its service is up is followed by ExecStop=).
        for position, exit_ in self._exits:
            if (
                exit_.failed
                and exit_.kind in _START_PHASE
                and not (exit_.kind == "ExecStart" and exit_.after_started)
            ):
                for index in range(position, len(states)):
                    if kinds[index] is None:
                        kinds[index] = "ExecStopPost"
                break
        # Between two steps of the same kind there is only that kind.
        known = [(i, k) for i, k in enumerate(kinds) if k is not None]
        for (left, kind), (right, other) in itertools.pairwise(known):
            if kind == other:
                for index in range(left + 1, right):
                    kinds[index] = other
        names = _numbered(
            kind or state.command or "?" for state, kind in zip(states, kinds, strict=True)
        )
        result = []
        for state, name in zip(states, names, strict=True):
            ended_at = state.last_at
            if state.exit_at is not None:
                ended_at = max(ended_at, state.exit_at)
            elif state.result_at is not None:
                ended_at = max(ended_at, state.result_at)
            command = state.command or "?"
            result.append(
                Step(
                    name=name,
                    command=command,
                    started_at=min(state.started_at, state.first_at),
                    ended_at=ended_at,
                    exit_status=state.exit_status,
                )
            )
        return tuple(result)


def _numbered(names: Iterable[str]) -> list[str]:
    """``names`` made unique: a name already taken gets the next free ``#2``, ``#3`` …"""
    taken: set[str] = set()
    unique = []
    for name in names:
        candidate, number = name, 1
        while candidate in taken:
            number += 1
            candidate = f"{name}#{number}"
        taken.add(candidate)
        unique.append(candidate)
    return unique


def _result(entry: Entry, message_id: str, message: str) -> str | None:
    """The unit's result from systemd's result message, or None for other messages."""
    if message_id == MESSAGE_UNIT_SUCCESS or (not message_id and _SUCCESS_TEXT.search(message)):
        return "success"
    if message_id in (MESSAGE_UNIT_FAILURE_RESULT, MESSAGE_UNIT_SKIPPED):
        found = field_text(entry, "UNIT_RESULT")
        if found:
            return found
    match = _FAILED_TEXT.search(message) or _SKIPPED_TEXT.search(message)
    if match and message_id in ("", MESSAGE_UNIT_FAILURE_RESULT, MESSAGE_UNIT_SKIPPED):
        return match["result"]
    return None


def command_name(entry: Entry) -> str:
    """The name of the command that wrote an entry: ``_COMM`` (the kernel's 15-byte
    process name; systemd's pre-exec ``(name)`` unwrapped), or the stream's
    ``SYSLOG_IDENTIFIER`` (the executable's file name unless ``SyslogIdentifier=``
    is set) when it is that name in full, else the executable of ``_CMDLINE``."""
    comm = field_text(entry, "_COMM") or ""
    if comm.startswith("(") and comm.endswith(")"):
        comm = comm[1:-1]
    elif comm.startswith("("):  # "(name" cut at 15 bytes
        comm = comm[1:]
    ident = field_text(entry, "SYSLOG_IDENTIFIER") or ""
    if comm and ident and len(comm) >= _COMM_LENGTH - 1 and ident.startswith(comm):
        return ident
    if comm:
        return comm
    executable = field_text(entry, "EXECUTABLE") or ""
    if executable:
        return executable.rsplit("/", 1)[-1]
    if ident:
        return ident
    cmdline = (field_text(entry, "_CMDLINE") or "").split()
    return cmdline[0].rsplit("/", 1)[-1] if cmdline else ""
