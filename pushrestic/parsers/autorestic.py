"""autorestic's console log (1.0 to 1.8), split into one group per (location, backend).

autorestic prints a banner per location, ``Backend: NAME`` before each restic
run, restic's stdout only with ``-v``/``--ci``, restic's stderr after a failure,
then one error block per failed backend (``location@backend:`` … ``exit status
N``), and ``Done`` when a whole location succeeded. Hook output and forget
sections are told apart from backup output. See autorestic's source
(https://github.com/cupcakearmy/autorestic/blob/master/internal/location.go) and the
logs rebuilt from it, ``tests/fixtures/samples/autorestic-*.reconstructed.log``.

A backend's exit code comes from its error block; a backend of a location that
ended without an error block for it exited 0. A log cut off mid-location leaves
the code unknown, and the outcome is then inferred from restic's own output.

Names may contain ``@``: the head ``a@b@c:`` is that of location ``a`` with
backend ``b@c`` as well as of location ``a@b`` with backend ``c``. A head is
matched against the (location, backend) pairs the log showed, and among them
the pair of the location whose errors autorestic is printing: ``backup`` prints
a location's errors right after its section (before the next banner), ``cron``
(master) prints them all at the end, each location's after ``Failed to backup
location "NAME":``. A head that still fits several pairs fails them all, with a
reason that says so: a pair that may have failed is never reported as a success.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from pushrestic.model import GroupOutput
from pushrestic.parsers.patterns import LazyPattern
from pushrestic.parsers.restic import SKIPPABLE_TEXT, NumberedLines, ResticParser

_BANNER = LazyPattern(r'\s*Backing up location "(.+)"\s*')
_FORGET_BANNER = LazyPattern(r'\s*Forgetting for location "(.+)"\s*')
_BACKEND = LazyPattern(r"Backend: (.+)")
_FORGET_BACKEND = LazyPattern(r'For backend "(.+)"')
_EXECUTING = LazyPattern(r"> Executing: (\S+)(?: (.*))?")
_EXIT_STATUS = LazyPattern(r"exit status (-?[0-9]+)")
_ERRORS_FOUND = LazyPattern(
    r"Error: [0-9]+ errors? were found|Error: Encountered errors during cron process:"
)
_CRON_ERRORS = "Error: Encountered errors during cron process:"
# cron (after v1.8.3) wraps each location's errors in this line, after _CRON_ERRORS
_FAILED_LOCATION = LazyPattern(r'Failed to backup location "(.+)":')
# Hooks run as 'bash -c <command>'; any other program executed is restic (or docker running it).
_SHELLS = frozenset({"bash", "sh"})
_HEADER = LazyPattern(
    r"Using config(?: paths)?:.*|Using env:.*|Using lock:.*|Skipping \".+\", not due yet\."
    r"|Copying .+ → .+|Executing under: .*|Running hooks"
)

_MAX_BLOCK_LINES = 1000  # an error block repeats restic's stderr: keep memory bounded

# What autorestic prints around restic's output: a line matching one of these
# is autorestic's own, never restic's.
AUTORESTIC_MARKERS = (_BANNER, _BACKEND, _HEADER)


@dataclass(slots=True)
class _Group:
    location: str
    backend: str
    backup: ResticParser
    forget: ResticParser | None = None
    exit_code: int | None = None
    fed: int = 0
    failed: bool = False  # autorestic printed an error block for it
    ambiguous: str | None = None  # an error block that may be its (or another pair's)

    @property
    def name(self) -> str:
        return f"{self.location}/{self.backend}"


@dataclass(slots=True)
class _Location:
    name: str
    backends: list[str] = field(default_factory=list)
    ended: bool = False
    done: bool = False


class AutoresticParser:
    """Incremental parser of one autorestic log; groups come out in log order."""

    def __init__(self, source: str = "") -> None:
        self._source = source
        self._groups: dict[tuple[str, str], _Group] = {}
        self._locations: dict[str, _Location] = {}
        self._location: _Location | None = None
        self._target: ResticParser | None = None
        self._target_group: _Group | None = None
        self._mode = "none"  # none | restic | hook | forget | block
        # the error block being read: the pairs it may belong to
        self._block: tuple[_Group, ...] = ()
        self._block_lines: list[tuple[int, str]] = []
        # 'location@backend:' heads an error block; looked up whole, never by regex.
        # With '@' in names one head may fit several pairs: all are kept.
        self._block_heads: dict[str, list[_Group]] = {}
        # the location whose error blocks autorestic prints next, when known
        self._errors_of: str | None = None
        self._cron_errors = False  # after cron's error line: locations are named
        self.recognized = False

    def feed_all(self, lines: NumberedLines) -> AutoresticParser:
        for number, line in lines:
            self.feed(number, line)
        return self

    def feed(self, number: int, raw: str) -> None:
        if raw.startswith(SKIPPABLE_TEXT):
            # restic's progress and per-item lines say nothing autorestic's own
            # lines do not; the input layer may drop them, so they must not count.
            return
        line = raw.rstrip("\r\n")
        stripped = line.strip()
        if self._mode == "block":
            self._feed_block(number, line, stripped)
            return
        if self._structural(stripped):
            return
        if self._mode == "restic" and self._target is not None and self._target_group is not None:
            self._target.feed(number, line)
            if stripped:
                self._target_group.fed += 1

    def _structural(self, line: str) -> bool:  # noqa: C901, PLR0912, PLR0915  one branch per kind of autorestic line, tried in an order that matters (a banner ends the section before it)
        """Handle one of autorestic's own lines; False if the line is not one."""
        if m := _BANNER.fullmatch(line):
            self._end_location()
            self._location = self._locations.setdefault(m.group(1), _Location(m.group(1)))
            self._errors_of = m.group(1)
            self._cron_errors = False
            self._set_mode("none")
            self.recognized = True
            return True
        if m := _BACKEND.fullmatch(line):
            if self._location is None:
                return False
            group = self._group(self._location.name, m.group(1).strip())
            self._target, self._target_group = group.backup, group
            self._mode = "restic"
            self._location.done = False  # a 'Done' before this was a hook's output
            self.recognized = True
            return True
        if m := _EXECUTING.fullmatch(line):
            if m.group(1).rsplit("/", 1)[-1] in _SHELLS:
                self._set_mode("hook")
            elif self._target is not None:
                self._mode = "restic"
            return True
        if line == "Running hooks":
            self._set_mode("hook")
            self.recognized = True
            return True
        if m := _FORGET_BANNER.fullmatch(line):
            self._set_mode("forget")
            self.recognized = True
            return True
        if (m := _FORGET_BACKEND.fullmatch(line)) and self._location is not None:
            group = self._group(self._location.name, m.group(1))
            if group.forget is None:
                group.forget = ResticParser(self._source)
            self._target, self._target_group = group.forget, group
            self._mode = "restic"
            return True
        if line == "Done" and self._location is not None:
            # autorestic's 'Done' ends a location that had no error. Without -v no hook
            # output is shown, so after hooks it is autorestic's too; with -v a hook
            # may print it, which a later 'Backend:' line or error block overrides.
            self._location.done = True
            if self._mode != "hook":
                self._set_mode("none")
            return True
        if (candidates := self._block_heads.get(line)) is not None:
            self._block = self._owners(candidates)
            for group in self._block:
                group.failed = True
            if len(self._block) > 1:
                names = " or ".join(group.name for group in self._block)
                for group in self._block:
                    group.ambiguous = group.ambiguous or (
                        f"autorestic's error block {line!r} may be that of {names}: "
                        "ambiguous, so each is reported as failed"
                    )
            self._block_lines = []
            self._mode = "block"
            return True
        if _ERRORS_FOUND.fullmatch(line):
            self._end_location()
            self._set_mode("none")
            # backup printed each location's errors already; cron names each location
            self._errors_of = None
            self._cron_errors = line == _CRON_ERRORS
            self.recognized = True
            return True
        if self._cron_errors and (m := _FAILED_LOCATION.fullmatch(line)):
            self._errors_of = m.group(1)
            self._set_mode("none")
            return True
        if _HEADER.fullmatch(line):
            if line.startswith(("Copying", "Skipping")):
                self._set_mode("none")
            self.recognized = True
            return True
        return False

    def _owners(self, candidates: list[_Group]) -> tuple[_Group, ...]:
        """The pairs an error block belongs to: the one pair its head fits, else the
        one of the location whose errors are being printed, else all it may be."""
        if len(candidates) > 1:
            here = [group for group in candidates if group.location == self._errors_of]
            if len(here) == 1:
                return (here[0],)
        return tuple(candidates)

    def _feed_block(self, number: int, line: str, stripped: str) -> None:
        if m := _EXIT_STATUS.fullmatch(stripped):
            self._end_block(int(m.group(1)))
            return
        if (
            _BANNER.fullmatch(stripped)
            or _ERRORS_FOUND.fullmatch(stripped)
            or (self._cron_errors and _FAILED_LOCATION.fullmatch(stripped))
        ):
            self._end_block(None)
            self._structural(stripped)
            return
        if len(self._block_lines) < _MAX_BLOCK_LINES:
            self._block_lines.append((number, line))

    def _end_block(self, exit_code: int | None) -> None:
        """The error block ends (with ``exit status N``, or cut off): its code and
        restic's stderr go to the pair it belongs to, if that is known."""
        if len(self._block) == 1:
            (group,) = self._block
            if exit_code is not None:
                group.exit_code = exit_code
            if group.fed == 0:  # restic's stderr was not shown before: take it from here
                group.backup.feed_all(self._block_lines)
        self._block, self._block_lines = (), []
        self._set_mode("none")

    def _set_mode(self, mode: str) -> None:
        self._mode = mode
        self._target = self._target_group = None

    def _group(self, location: str, backend: str) -> _Group:
        key = (location, backend)
        group = self._groups.get(key)
        if group is None:
            group = _Group(location, backend, ResticParser(self._source))
            self._groups[key] = group
            self._block_heads.setdefault(f"{location}@{backend}:", []).append(group)
            self._locations.setdefault(location, _Location(location)).backends.append(backend)
        return group

    def _end_location(self) -> None:
        if self._location is not None:
            self._location.ended = True

    def groups(self) -> Iterator[GroupOutput]:
        """The groups seen so far, each with the exit code autorestic showed or implied."""
        for group in self._groups.values():
            location = self._locations[group.location]
            exit_code = group.exit_code
            if exit_code is None and not group.failed and (location.done or location.ended):
                exit_code = 0
            output = group.backup.result()
            if group.forget is not None:
                forget = group.forget.result()
                output = replace(output, forget=forget.forget, prune=forget.prune)
            if group.ambiguous is not None:
                # whatever its own output shows, it may have failed: never a success
                fatal = group.ambiguous
                if output.fatal is not None:
                    fatal = f"{output.fatal} ({fatal})"
                output = replace(output, fatal=fatal)
            yield GroupOutput(group.location, group.backend, output, exit_code)


def parse_autorestic(lines: NumberedLines, *, source: str = "") -> list[GroupOutput]:
    """Parse an autorestic log: numbered lines in, one GroupOutput per (location, backend)."""
    return list(AutoresticParser(source).feed_all(lines).groups())
