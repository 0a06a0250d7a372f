"""Fakes shared by the tests: a clock that only moves when the code under test sleeps,
and a Pushgateway held in a dict, given to a deliverer as its transport."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from prometheus_client.parser import text_string_to_metric_families

from pushrestic.metrics import LAST_SUCCESS
from pushrestic.sinks.pushgateway.http import Headers, PushError


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


class FakeGateway:
    """A Pushgateway held in a dict: PUT replaces a group, DELETE removes it, GET
    /api/v1/metrics lists them as the real one does (labels, last success). A
    scripted PushError is raised (once each, in order) instead of an answer."""

    def __init__(self, *faults: PushError) -> None:
        self.groups: dict[tuple[tuple[str, str], ...], bytes] = {}
        self.faults = list(faults)
        self.requests: list[tuple[str, str]] = []

    def request(
        self,
        method: str,
        url: str,
        *,
        timeout: float | None,
        headers: Headers = (),
        data: bytes | None = None,
    ) -> bytes:
        self.requests.append((method, url))
        if self.faults:
            raise self.faults.pop(0)
        path = urlsplit(url).path
        if method == "GET" and path == "/api/v1/metrics":
            return json.dumps({"status": "success", "data": self._listing()}).encode()
        labels = grouping_labels(path)
        if method == "PUT":
            self.groups[labels] = data or b""
        elif method == "DELETE":
            self.groups.pop(labels, None)
        return b""

    def last_success(self, location: str) -> float | None:
        for labels, body in self.groups.items():
            if dict(labels).get("location") == location:
                return _last_success(body)
        return None

    def _listing(self) -> list[dict[str, object]]:
        listing: list[dict[str, object]] = []
        for labels, body in self.groups.items():
            group: dict[str, object] = {"labels": dict(labels)}
            last = _last_success(body)
            if last is not None:
                group[LAST_SUCCESS] = {"metrics": [{"value": repr(last)}]}
            listing.append(group)
        return listing


def grouping_labels(path: str) -> tuple[tuple[str, str], ...]:
    """The grouping key of a push URL path, decoded (``@base64`` too), sorted."""
    parts = path.removeprefix("/metrics/").split("/")
    pairs = []
    for name, value in zip(parts[::2], parts[1::2], strict=True):
        if name.endswith("@base64"):
            padded = value + "=" * (-len(value) % 4)
            pairs.append((name.removesuffix("@base64"), base64.urlsafe_b64decode(padded).decode()))
        else:
            pairs.append((name, unquote(value)))
    return tuple(sorted(pairs))


def _last_success(body: bytes) -> float | None:
    for family in text_string_to_metric_families(body.decode()):
        if family.name == LAST_SUCCESS:
            return float(family.samples[0].value)
    return None
