"""Grouping keys on a real Pushgateway: each group arrives under its exact label values,
dot segments (``.``, ``..``) included, which an HTTP client would otherwise collapse."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from pushrestic.metrics import build_registry
from pushrestic.model import ExitCodeSource, Outcome, Run
from pushrestic.sinks.pushgateway.grouping import Gateway, push_group
from pushrestic.sinks.pushgateway.http import (
    RetryPolicy,
    SessionTransport,
    TransportSettings,
)
from tests.integration.servers import (
    SUCCESS_LOG,
    Pushgateway,
    pushrestic,
    sample_log,
    started_pushgateway,
)

pytestmark = pytest.mark.integration

T1 = 1_760_000_000.0
POLICY = RetryPolicy(attempts=3, deadline=30.0, timeout=10.0)
DOTTED = [".", "..", "...", "./x", "a/../b", "x/.", "%2e%2e", ".hidden", "a.b"]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pushgateway]:
    with started_pushgateway(tmp_path_factory.mktemp("pushgateway")) as started:
        yield started


def push_run(gateway: Gateway, location: str, backend: str) -> dict[str, str]:
    """Push one successful run's group; returns the labels the group should carry."""
    run = Run(location, backend, Outcome(0, ExitCodeSource.GIVEN), ended_at=T1)
    key = gateway.key(location, backend)
    transport = SessionTransport(TransportSettings())
    try:
        push_group(transport, gateway, key, generate_latest(build_registry([run])), POLICY)
    finally:
        transport.session.close()
    return {"job": gateway.job, **key}


@pytest.mark.parametrize("value", DOTTED)
def test_dotted_values_arrive_as_the_exact_labels_of_their_group(
    gateway: Pushgateway, value: str
) -> None:
    target = Gateway(gateway.url, job=value, instance=value, grouping={"site": value})
    labels = push_run(target, value, value)
    group = gateway.api_group(**labels)
    assert group is not None, (labels, gateway.group_labels(job=value))
    series = gateway.pushed(job=value).where(location=value, backend=value)
    assert series.value("restic_backup_success", instance=value, site=value) == 1


def test_groups_named_dot_and_dot_dot_never_collapse_into_one_another(
    gateway: Pushgateway,
) -> None:
    target = Gateway(gateway.url, job="dots", instance="host")
    pushed = [
        push_run(target, location, backend) for location in (".", "..") for backend in (".", "..")
    ]
    arrived = sorted(sorted(labels.items()) for labels in gateway.group_labels(job="dots"))
    assert arrived == sorted(sorted(labels.items()) for labels in pushed)


def test_the_cli_pushes_dotted_names_under_their_exact_grouping_key(
    gateway: Pushgateway, tmp_path: Path
) -> None:
    log = sample_log(SUCCESS_LOG, tmp_path / "logs", T1)
    done = pushrestic(
        "push",
        "--gateway",
        gateway.url,
        "--job",
        "..",
        "--instance",
        ".",
        "--grouping-label",
        "site=..",
        "--location",
        ".",
        "--backend",
        "..",
        str(log),
        spool=tmp_path / "spool",
    )
    assert done.code == 0, done
    labels = {"job": "..", "instance": ".", "site": "..", "location": ".", "backend": ".."}
    assert gateway.api_group(**labels) is not None, gateway.group_labels(job="..")
