"""The Pushgateway sink: one group per (location, backend), pushed with PUT.

A group's grouping key is ``job``, then ``instance`` (default: the host name;
may be empty), ``location``, ``backend`` and any configured grouping labels.
PUT replaces exactly that group, so one location or backend never removes
another's, and two hosts with the same location never collide.

The path is built here rather than by prometheus_client, whose escaping of
grouping values differs between versions (spaces, ``/``, the job name): every
value that is not plainly safe is sent in the ``@base64`` form (base64url
without padding; ``=`` for an empty value), which the Pushgateway decodes into
the exact label value.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from pushrestic.errors import UsageError
from pushrestic.metrics import LAST_SUCCESS
from pushrestic.sinks.pushgateway.http import (
    PushError,
    RetryPolicy,
    Transport,
    has_user_info,
    redact_url,
    send,
)

if TYPE_CHECKING:
    pass

# Sent as they are: values of these characters that are not made of dots only. A
# value of dots ('.', '..') would be a dot segment, which URL clients (urllib3,
# which requests uses, as RFC 3986 says) collapse: the label would be lost.
_SAFE = re.compile(r"(?!\.*\Z)[A-Za-z0-9_.\-]+")


@dataclass(frozen=True, slots=True)
class Gateway:
    """Where and under which job to push; ``grouping`` adds labels to every group's key."""

    url: str
    job: str = "restic"
    instance: str = ""
    grouping: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if has_user_info(self.url):
            raise UsageError(
                "gateway URL: put no user or password in the URL (`ps` would show it); "
                "use --basic-auth-user with PUSHRESTIC_PASSWORD or --password-file"
            )
        try:
            parts = urlsplit(self.url)
            valid = parts.scheme in ("http", "https") and bool(parts.hostname)
            valid = valid and parts.port != 0  # .port raises beyond 65535 or for a non-number
        except ValueError:  # an unclosed [ or a port that is not a number
            valid = False
        if not valid:
            raise UsageError(
                f"gateway URL {redact_url(self.url)!r}: expected http(s)://host[:port]"
            )
        if not self.job:
            raise UsageError("the job name may not be empty")

    @property
    def base(self) -> str:
        return self.url.rstrip("/")

    def key(self, location: str, backend: str, operation: str | None = None) -> dict[str, str]:
        """The grouping key (without job) of one group; ``operation`` names a run of
        forget, prune or check alone, which is a group of its own."""
        key = {"instance": self.instance, **self.grouping, "location": location, "backend": backend}
        if operation is not None:
            key["operation"] = operation
        return key

    def group_url(self, key: Mapping[str, str]) -> str:
        """``BASE/metrics/job/JOB/NAME/VALUE…`` with unsafe values in the @base64 form."""
        parts = [_segment("job", self.job)]
        parts.extend(_segment(name, value) for name, value in key.items())
        return f"{self.base}/metrics/" + "/".join(parts)


def _segment(name: str, value: str) -> str:
    """``name/value``, or ``name@base64/…`` for a value that is not plainly safe in a
    path: empty, made of dots only, or with any character but ``A-Za-z0-9_.-``."""
    if _SAFE.fullmatch(value):
        return f"{name}/{value}"
    if value == "":
        return f"{name}@base64/="
    encoded = base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")
    return f"{name}@base64/{encoded}"


@dataclass(frozen=True, slots=True)
class GroupState:
    """A group as the Pushgateway holds it."""

    labels: dict[str, str]
    push_time: float | None
    push_failure_time: float | None
    last_success: float | None


def push_group(
    transport: Transport,
    gateway: Gateway,
    key: Mapping[str, str],
    body: bytes,
    policy: RetryPolicy,
) -> None:
    """PUT ``body`` as the whole of one group, retried under ``policy``. Raises PushError."""
    url = gateway.group_url(key)
    headers = (("Content-Type", CONTENT_TYPE_PLAIN_0_0_4),)
    send(
        lambda timeout: transport.request("PUT", url, timeout=timeout, headers=headers, data=body),
        policy,
        what=f"push of {_describe(key)}",
    )


def delete_group(
    transport: Transport, gateway: Gateway, key: Mapping[str, str], policy: RetryPolicy
) -> None:
    """DELETE one group from the Pushgateway. Raises PushError."""
    url = gateway.group_url(key)
    send(
        lambda timeout: transport.request("DELETE", url, timeout=timeout),
        policy,
        what=f"delete of {_describe(key)}",
    )


def list_groups(transport: Transport, gateway: Gateway, policy: RetryPolicy) -> list[GroupState]:
    """This job's groups, from the Pushgateway's API, with their push times."""
    url = f"{gateway.base}/api/v1/metrics"
    answers: list[bytes] = []
    send(
        lambda timeout: answers.append(transport.request("GET", url, timeout=timeout)),
        policy,
        what="listing groups",
    )
    try:
        document = json.loads(answers[-1])
        groups = document["data"]
    except (ValueError, KeyError, TypeError):
        raise PushError(
            f"GET {redact_url(url)}: not a Pushgateway API answer", transient=False
        ) from None
    found = []
    for group in groups if isinstance(groups, list) else []:
        labels = group.get("labels") if isinstance(group, dict) else None
        if not isinstance(labels, dict) or labels.get("job") != gateway.job:
            continue
        found.append(
            GroupState(
                labels={str(k): str(v) for k, v in labels.items()},
                push_time=_value(group.get("push_time_seconds")),
                push_failure_time=_value(group.get("push_failure_time_seconds")),
                last_success=_value(group.get(LAST_SUCCESS)),
            )
        )
    return found


def find_group(
    groups: list[GroupState], gateway: Gateway, key: Mapping[str, str]
) -> GroupState | None:
    """The group whose labels are exactly ``job`` plus ``key`` (empty values as absent)."""
    wanted = {k: v for k, v in {"job": gateway.job, **key}.items() if v != ""}
    for group in groups:
        if {k: v for k, v in group.labels.items() if v != ""} == wanted:
            return group
    return None


def _value(family: Any) -> float | None:
    """The first sample's value of one metric family in the API's JSON, or None."""
    try:
        value = float(family["metrics"][0]["value"])
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return value if value > 0 else None


def _describe(key: Mapping[str, str]) -> str:
    return "group " + ",".join(f"{k}={v!r}" for k, v in key.items())
