"""deliver, with a fake Pushgateway in place of the transport: this run's groups,
the spool, refusals, the last success read back, other gateways' reports and the
deadline, without a server or a real sleep (the real Pushgateway is in
tests/integration/test_pushgateway.py and test_spool_delivery.py)."""

from __future__ import annotations

from pathlib import Path

from pushrestic.model import ExitCodeSource, Outcome, Run
from pushrestic.sinks.pushgateway.deliver import Budget, Deliverer, PushSettings
from pushrestic.sinks.pushgateway.grouping import Gateway
from pushrestic.sinks.pushgateway.http import PushError, RetryPolicy
from pushrestic.sinks.pushgateway.spool import Spool, SpoolEntry, group_id
from tests.fakes import FakeGateway, grouping_labels

URL = "http://gw:9091"
ONCE = RetryPolicy(attempts=1, deadline=30, timeout=5)
T1 = 1_700_000_000.0
T2 = T1 + 86400


def run(location: str, code: int, ended_at: float) -> Run:
    return Run(location, "local", Outcome(code, ExitCodeSource.GIVEN), ended_at=ended_at)


def deliverer(spool: Path, gateway: FakeGateway, url: str = URL) -> Deliverer:
    return Deliverer(PushSettings(Gateway(url), spool, policy=ONCE), transport=gateway)


def unavailable() -> PushError:
    return PushError("PUT: HTTP 503: unavailable", transient=True, status=503)


def test_each_group_of_the_run_is_put_under_its_own_grouping_key(tmp_path: Path) -> None:
    gateway = FakeGateway()
    delivering = deliverer(tmp_path / "spool", gateway)
    delivering.push([run("docs", 0, T1), run("media", 0, T1)], {})
    assert delivering.result.delivered == ["docs/local", "media/local"]
    assert delivering.result.complete
    assert {dict(labels)["location"] for labels in gateway.groups} == {"docs", "media"}
    assert gateway.last_success("docs") == T1


def test_a_transient_failure_keeps_the_report_and_the_next_run_delivers_it_first(
    tmp_path: Path,
) -> None:
    spool = tmp_path / "spool"
    first = deliverer(spool, FakeGateway(unavailable()))
    first.push([run("docs", 0, T1)], {})
    assert first.result.spooled == ["docs/local"]
    assert not first.result.complete
    assert len(Spool(spool).groups()) == 1

    gateway = FakeGateway()
    second = deliverer(spool, gateway)
    second.replay(skip=second.group_ids([run("media", 0, T2)]))
    second.push([run("media", 0, T2)], {})
    assert second.result.replayed == ["docs/local"]
    assert second.result.delivered == ["media/local"]
    assert [dict(labels)["location"] for labels in gateway.groups] == ["docs", "media"]
    assert Spool(spool).groups() == []


def test_a_refused_report_is_set_aside_with_the_gateway_s_answer_and_not_retried(
    tmp_path: Path,
) -> None:
    spool = tmp_path / "spool"
    refused = PushError("PUT: HTTP 400: pushed metrics are invalid", transient=False, status=400)
    first = deliverer(spool, FakeGateway(refused))
    first.push([run("docs", 0, T1)], {})
    assert first.result.rejected == ["docs/local"]
    (kept,) = Spool(spool).rejected()
    assert "pushed metrics are invalid" in kept.reason

    gateway = FakeGateway()
    second = deliverer(spool, gateway)
    second.replay()
    assert second.result.replayed == []
    assert gateway.requests == []


def test_a_failure_carries_the_last_success_the_gateway_holds_when_the_spool_is_new(
    tmp_path: Path,
) -> None:
    gateway = FakeGateway()
    deliverer(tmp_path / "old-spool", gateway).push([run("docs", 0, T1)], {})
    failing = deliverer(tmp_path / "new-spool", gateway)
    failing.push([run("docs", 1, T2)], {})
    assert failing.result.delivered == ["docs/local"]
    assert ("GET", f"{URL}/api/v1/metrics") in gateway.requests
    assert gateway.last_success("docs") == T1


def test_the_last_success_never_goes_backwards_through_the_ledger(tmp_path: Path) -> None:
    gateway = FakeGateway()
    spool = tmp_path / "spool"
    deliverer(spool, gateway).push([run("docs", 0, T2)], {})
    deliverer(spool, gateway).push([run("docs", 1, T2 + 60)], {})
    assert gateway.last_success("docs") == T2
    assert gateway.requests.count(("GET", f"{URL}/api/v1/metrics")) == 0  # the ledger knew


def test_reports_for_another_gateway_wait_unless_adopted(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    old = Gateway("http://old:9091")
    key = old.key("docs", "local")
    Spool(spool).put(SpoolEntry(old.url, "restic", key, b"x 1\n", T1, T1))
    gateway = FakeGateway()
    waiting = deliverer(spool, gateway)
    waiting.replay()
    assert waiting.result.elsewhere == {("http://old:9091", "restic"): ["docs/local"]}
    assert gateway.groups == {}

    adopting = deliverer(spool, gateway)
    adopting.replay(adopt=True)
    assert adopting.result.replayed == ["docs/local"]
    assert gateway.groups[
        grouping_labels("/metrics/job/restic/instance@base64/=/location/docs/backend/local")
    ]
    assert Spool(spool).get(group_id(old.url, "restic", key)) is None


def test_with_no_time_left_nothing_is_sent_and_the_report_is_kept(tmp_path: Path) -> None:
    now = [0.0]
    budget = Budget(ONCE, clock=lambda: now[0])
    now[0] = ONCE.deadline  # the whole deadline went on something else
    gateway = FakeGateway()
    settings = PushSettings(Gateway(URL), tmp_path / "spool", policy=ONCE)
    late = Deliverer(settings, transport=gateway, budget=budget)
    late.push([run("docs", 0, T1)], {})
    assert late.result.spooled == ["docs/local"]
    assert gateway.requests == []
