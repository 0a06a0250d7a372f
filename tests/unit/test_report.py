"""report: what is said on stderr about one push sink's delivery, and the verdict, with
a fake Pushgateway as the transport (the whole path, with a real gateway, is in
tests/integration/test_spool_delivery.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pushrestic.model import ExitCodeSource, Outcome, Run
from pushrestic.report import Verdict, _verdict
from pushrestic.sinks.pushgateway.deliver import Deliverer, PushSettings
from pushrestic.sinks.pushgateway.grouping import Gateway
from pushrestic.sinks.pushgateway.http import PushError, RetryPolicy
from tests.fakes import FakeGateway

ONCE = RetryPolicy(attempts=1, deadline=30, timeout=5)
T1 = 1_700_000_000.0
RUNS = [
    Run("docs", "local", Outcome(0, ExitCodeSource.GIVEN), ended_at=T1),
    Run("media", "local", Outcome(0, ExitCodeSource.GIVEN), ended_at=T1),
]
DOWN = "PUT: [Errno 111] Connection refused"
REFUSED = "PUT: HTTP 400: pushed metrics are invalid"


def delivered(
    spool: Path, gateway: FakeGateway, capsys: pytest.CaptureFixture[str]
) -> tuple[Verdict, list[str]]:
    """Push RUNS through ``gateway``; the verdict and the lines said on stderr."""
    deliverer = Deliverer(PushSettings(Gateway("http://gw:9091"), spool, policy=ONCE), gateway)
    deliverer.push(RUNS, {})
    verdict = _verdict(deliverer)
    return verdict, capsys.readouterr().err.splitlines()


def open_to_all(tmp_path: Path) -> Path:
    spool = tmp_path / "spool"
    spool.mkdir()
    spool.chmod(0o777)
    return spool


def test_a_failed_push_with_an_untrusted_spool_names_the_cause_and_the_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spool = open_to_all(tmp_path)
    down = [PushError(DOWN, transient=True), PushError(DOWN, transient=True)]

    verdict, said = delivered(spool, FakeGateway(*down), capsys)

    assert verdict is Verdict.NOT_DELIVERED
    assert said == [
        f"pushrestic: error: push failed: docs/local, media/local: {DOWN}",
        f"pushrestic: error: spool directory {spool} is writable by group or others "
        "(mode 0777): refusing to use it (anyone who can write it can plant reports); "
        "fix it (chmod 700, chown) or choose another --spool-dir "
        "(the report was not kept anywhere)",
    ]


def test_a_refused_push_with_an_untrusted_spool_never_claims_the_report_was_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spool = open_to_all(tmp_path)
    refused = [PushError(REFUSED, transient=False, status=400)] * 2

    verdict, said = delivered(spool, FakeGateway(*refused), capsys)

    assert verdict is Verdict.NOT_DELIVERED
    assert not [line for line in said if "is kept in" in line], said
    assert "pushrestic: error: docs/local: refused and not kept: the spool is not used" in said
    assert any(f"spool directory {spool}" in line for line in said), said


def test_a_push_that_succeeds_without_an_untrusted_spool_says_so_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spool = open_to_all(tmp_path)

    verdict, said = delivered(spool, FakeGateway(), capsys)

    assert verdict is Verdict.UNTRUSTED_SPOOL
    [line] = said
    assert line.startswith(f"pushrestic: error: spool directory {spool} ")
    assert line.endswith("(the report was pushed without the spool)")


def test_a_push_that_cannot_be_kept_says_why_it_failed_and_why_it_was_not_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spool = tmp_path / "spool"
    spool.write_text("a file where the spool directory should be")

    verdict, said = delivered(spool, FakeGateway(PushError(DOWN, transient=True)), capsys)

    assert verdict is Verdict.NOT_DELIVERED
    assert f"pushrestic: error: push failed: docs/local, media/local: {DOWN}" in said
    assert [line for line in said if "docs/local: not delivered and not kept:" in line], said


def test_a_refused_report_that_was_kept_says_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spool = tmp_path / "spool"
    refused = [PushError(REFUSED, transient=False, status=400)] * 2

    verdict, said = delivered(spool, FakeGateway(*refused), capsys)

    assert verdict is Verdict.NOT_DELIVERED
    assert said == [
        f"pushrestic: error: the gateway refused docs/local, media/local: {REFUSED}; "
        f"the report is kept in {spool / 'rejected'} (see `pushrestic spool`)"
    ]
