"""Property: whatever the label values, a real Pushgateway receives each group under its
exact grouping key (the Pushgateway half of the delivery-path property test).

Label values are drawn from all of Unicode (control characters, ``\\r``, ``\\n``,
``"``, ``\\``, ``/``, ``.``, ``..``, ``@``, the empty string...) for the
location, backend, instance, job and extra grouping labels. Each group is pushed
through ``pushgateway.push_group`` with pushrestic's own transport, then read back
from ``/api/v1/metrics``: the groups of the example's job are exactly the ones
pushed, label for label, and each carries its own series.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from prometheus_client import generate_latest

from pushrestic.metrics import build_registry
from pushrestic.model import ExitCodeSource, Outcome, Run
from pushrestic.sinks.pushgateway.grouping import Gateway, push_group
from pushrestic.sinks.pushgateway.http import (
    RetryPolicy,
    SessionTransport,
    TransportSettings,
)
from tests.integration.servers import Pushgateway, http_get, started_pushgateway

pytestmark = pytest.mark.integration

T1 = 1_760_000_000.0
POLICY = RetryPolicy(attempts=3, deadline=30.0, timeout=10.0)
# Values that broke, or could break, a path segment, an escape or a parser.
AWKWARD = [
    "",
    ".",
    "..",
    "...",
    "@",
    "a@b",
    "@base64",
    "=",
    "/",
    "a/b",
    "a/../b",
    "%2F",
    "%2e%2e",
    " ",
    "\r",
    "\n",
    "a\r\nb",
    '"',
    "\\",
    '\\"',
    "\x00",
    "\x7f",
    "\u2028",
    "é ü 日本",
    "\U0010ffff",
]
VALUES = st.one_of(st.sampled_from(AWKWARD), st.text(max_size=24))
_EXAMPLES = itertools.count()


@dataclass(frozen=True, slots=True)
class Case:
    """Groups to push: (location, backend) pairs under one job, instance and grouping."""

    pairs: list[tuple[str, str]]
    instance: str = ""
    grouping: dict[str, str] = field(default_factory=dict)
    job: str = ""


CASES = st.builds(
    Case,
    pairs=st.lists(st.tuples(VALUES, VALUES), min_size=1, max_size=4, unique=True),
    instance=VALUES,
    grouping=st.dictionaries(st.sampled_from(["site", "env", "team"]), VALUES, max_size=2),
    job=VALUES,
)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pushgateway]:
    with started_pushgateway(tmp_path_factory.mktemp("pushgateway")) as started:
        yield started


@pytest.fixture(scope="module")
def transport() -> Iterator[SessionTransport]:
    opened = SessionTransport(TransportSettings())
    with opened.session:
        yield opened


def groups_of(gateway: Pushgateway, job: str) -> list[dict[str, Any]]:
    document = json.loads(http_get(gateway.url + "/api/v1/metrics"))
    assert document["status"] == "success", document
    return [g for g in document["data"] if g["labels"].get("job") == job]


@settings(max_examples=40, deadline=None)
@given(case=CASES)
@example(case=Case([(".", ".."), ("..", ".")], instance=".", grouping={"site": ".."}, job=".."))
@example(case=Case([("a", "b@c"), ("a@b", "c")]))
@example(case=Case([("\r", "\n"), ('"', "\\")], instance="\r\n", grouping={"env": ""}, job="/"))
def test_each_group_arrives_under_its_exact_grouping_key(
    gateway: Pushgateway, transport: SessionTransport, case: Case
) -> None:
    # a job of the example's own (never empty), so that examples never meet
    target = Gateway(
        gateway.url,
        job=f"p{next(_EXAMPLES)}/{case.job}",
        instance=case.instance,
        grouping=case.grouping,
    )
    expected: dict[frozenset[tuple[str, str]], tuple[str, str]] = {}
    for location, backend in case.pairs:
        run = Run(location, backend, Outcome(0, ExitCodeSource.GIVEN), ended_at=T1)
        key = target.key(location, backend)
        push_group(transport, target, key, generate_latest(build_registry([run])), POLICY)
        expected[frozenset({"job": target.job, **key}.items())] = (location, backend)

    arrived = groups_of(gateway, target.job)
    assert {frozenset(group["labels"].items()) for group in arrived} == set(expected)
    for group in arrived:
        location, backend = expected[frozenset(group["labels"].items())]
        (success,) = group["restic_backup_success"]["metrics"]
        assert success["labels"]["location"] == location
        assert success["labels"]["backend"] == backend
        assert float(success["value"]) == 1
