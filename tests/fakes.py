"""Fakes shared by the tests: a clock that only moves when the code under test sleeps."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FakeTime:
    """A monotonic clock that only moves when the code under test sleeps or ``spend`` is called."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def spend(self, seconds: float) -> None:
        self.now += seconds
