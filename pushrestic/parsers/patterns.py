"""Regular expressions compiled on first use.

A hook runs pushrestic after every backup, so start-up time counts: compiling
the parsers' few dozen patterns at import cost about 10 ms, while a typical log
needs a handful of them.
"""

from __future__ import annotations

import re


class LazyPattern:
    """A ``re.Pattern`` that is compiled the first time it is used."""

    __slots__ = ("_compiled", "_flags", "_source")

    def __init__(self, source: str, flags: int = 0) -> None:
        self._source = source
        self._flags = flags
        self._compiled: re.Pattern[str] | None = None

    @property
    def compiled(self) -> re.Pattern[str]:
        if self._compiled is None:
            self._compiled = re.compile(self._source, self._flags)
        return self._compiled

    @property
    def pattern(self) -> str:
        return self._source

    def match(self, string: str) -> re.Match[str] | None:
        return self.compiled.match(string)

    def fullmatch(self, string: str) -> re.Match[str] | None:
        return self.compiled.fullmatch(string)

    def search(self, string: str) -> re.Match[str] | None:
        return self.compiled.search(string)

    def sub(self, replacement: str, string: str) -> str:
        return self.compiled.sub(replacement, string)


def ascii_pattern(source: str) -> LazyPattern:
    """A lazily compiled ASCII-only pattern: restic prints ASCII digits and spaces,
    and ``\\d`` would otherwise accept any script's digits."""
    return LazyPattern(source, re.ASCII)
