"""autorestic's hook environment: ``AUTORESTIC_<TYPE>_<I>`` and ``AUTORESTIC_<TYPE>_<BACKEND>``.

autorestic (1.3+) gives ``after``/``success``/``failure`` hooks one set of
variables per backend already processed, by 0-based index and by upper-cased
backend name (not sanitised: ``my-usb`` gives ``…_MY-USB``, which bash cannot
expand but a process environment holds). Values are the strings autorestic
parsed from restic's text output: human sizes and durations, empty after any
failure (including exit 3), ``ADDED_SIZE`` holding ``0 B   (0 B   stored)`` for
a zero size with restic 0.14+. ``EXIT_CODE`` exists since autorestic 1.6.

:func:`parse_hook_environment` is pure: a mapping in, one GroupOutput per
backend out, in index order. A value that does not parse raises InputError
naming the variable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pushrestic.errors import InputError
from pushrestic.model import BackupResult, BackupSummary, GroupOutput, ResticOutput
from pushrestic.parsers.patterns import LazyPattern
from pushrestic.parsers.units import SIZE_PATTERN, parse_duration, parse_size

PREFIX = "AUTORESTIC_"
LOCATION = "AUTORESTIC_LOCATION"
TYPES = (
    "PARENT_SNAPSHOT_ID",
    "SNAPSHOT_ID",
    "FILES_ADDED",
    "FILES_CHANGED",
    "FILES_UNMODIFIED",
    "DIRS_ADDED",
    "DIRS_CHANGED",
    "DIRS_UNMODIFIED",
    "ADDED_SIZE",
    "PROCESSED_FILES",
    "PROCESSED_SIZE",
    "PROCESSED_DURATION",
    "EXIT_CODE",
)
_COUNTS = {
    "FILES_ADDED": "files_new",
    "FILES_CHANGED": "files_changed",
    "FILES_UNMODIFIED": "files_unmodified",
    "DIRS_ADDED": "dirs_new",
    "DIRS_CHANGED": "dirs_changed",
    "DIRS_UNMODIFIED": "dirs_unmodified",
    "PROCESSED_FILES": "processed_files",
}
_ADDED = LazyPattern(rf"({SIZE_PATTERN})(?:\s*\(({SIZE_PATTERN})\s+stored\))?")
# ASCII digits only: str.isdigit() also takes '²', which int() refuses.
_INDEX = LazyPattern(r"[0-9]{1,9}")
_WHOLE = LazyPattern(r"[0-9]+")
_EXIT_CODE = LazyPattern(r"-?[0-9]+")
_SOURCE = "autorestic hook environment"


def parse_hook_environment(environ: Mapping[str, str]) -> tuple[str, list[GroupOutput]]:
    """The location and its backends' groups, from a hook's environment.

    Raises InputError when ``AUTORESTIC_LOCATION`` is missing or a value does not parse.
    """
    location = environ.get(LOCATION, "").strip()
    if not location:
        raise InputError(f"{LOCATION} is not set: not run as an autorestic hook", source=_SOURCE)
    by_index: dict[int, dict[str, str]] = {}
    by_name: dict[str, dict[str, str]] = {}
    for key, value in environ.items():
        if not key.startswith(PREFIX):
            continue
        rest = key[len(PREFIX) :]
        for kind in TYPES:
            if rest.startswith(kind + "_") and len(rest) > len(kind) + 1:
                suffix = rest[len(kind) + 1 :]
                if _INDEX.fullmatch(suffix):
                    by_index.setdefault(int(suffix), {})[kind] = value
                else:
                    by_name.setdefault(suffix, {})[kind] = value
                break
    names = _match_names(by_index, by_name)
    groups = [
        _group(location, names.get(index, str(index)), by_index[index])
        for index in sorted(by_index)
    ]
    return location, groups


def _match_names(
    by_index: dict[int, dict[str, str]], by_name: dict[str, dict[str, str]]
) -> dict[int, str]:
    """Pair each index with the backend name whose variables hold the same values."""
    names: dict[int, str] = {}
    free = dict(sorted(by_name.items()))
    for index in sorted(by_index):
        for name, values in free.items():
            if values == by_index[index]:
                names[index] = name.lower()
                del free[name]
                break
    return names


def _group(location: str, backend: str, values: dict[str, str]) -> GroupOutput:
    def get(kind: str) -> str:
        return values.get(kind, "").strip()

    counts = {attribute: _number(kind, get(kind)) for kind, attribute in _COUNTS.items()}
    added = stored = None
    if text := get("ADDED_SIZE"):
        match = _ADDED.fullmatch(text)
        if match is None:
            raise InputError(f"AUTORESTIC_ADDED_SIZE: not a size: {text[:40]!r}", source=_SOURCE)
        added = _converted("ADDED_SIZE", match.group(1), parse_size)
        stored = _converted("ADDED_SIZE", match.group(2) or "", parse_size)
    processed_bytes = _converted("PROCESSED_SIZE", get("PROCESSED_SIZE"), parse_size)
    duration = _converted("PROCESSED_DURATION", get("PROCESSED_DURATION"), parse_duration)
    snapshot = get("SNAPSHOT_ID") or None
    exit_code = _number("EXIT_CODE", get("EXIT_CODE"), _EXIT_CODE)

    has_summary = counts["files_new"] is not None or counts["processed_files"] is not None
    summary = (
        BackupSummary(
            files_new=counts["files_new"],
            files_changed=counts["files_changed"],
            files_unmodified=counts["files_unmodified"],
            dirs_new=counts["dirs_new"],
            dirs_changed=counts["dirs_changed"],
            dirs_unmodified=counts["dirs_unmodified"],
            processed_files=counts["processed_files"],
            processed_bytes=processed_bytes,
            added_bytes=added,
            added_stored_bytes=stored,
            duration_seconds=duration,
        )
        if has_summary
        else None
    )
    backup = (
        BackupResult(
            summary=summary,
            snapshot_id=snapshot,
            parent_snapshot_id=get("PARENT_SNAPSHOT_ID") or None,
        )
        if summary is not None or snapshot is not None
        else None
    )
    output = ResticOutput(backup=backup, recognized=True)
    return GroupOutput(location, backend, output, exit_code)


def _number(kind: str, text: str, pattern: LazyPattern = _WHOLE) -> int | None:
    if not text:
        return None
    if pattern.fullmatch(text):
        try:
            return int(text)
        except ValueError:  # more digits than int() takes
            pass
    raise InputError(f"AUTORESTIC_{kind}: not a whole number: {text[:40]!r}", source=_SOURCE)


def _converted(kind: str, text: str, convert: Callable[[str], int]) -> int | None:
    if not text:
        return None
    try:
        return convert(text)
    except ValueError as error:
        raise InputError(f"AUTORESTIC_{kind}: {error}", source=_SOURCE) from None
