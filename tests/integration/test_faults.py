"""The installed command against a faulty gateway: retries, exit 75, the spool, then flush.

``python -m pushrestic push`` runs as a process against a real local HTTP
server (faulty_server.py) that answers 503, rejects the push, resets the
connection or never answers. Whatever happens the report is not lost: it is
delivered, or kept in the spool and delivered by a later ``pushrestic flush``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import pushrestic
from tests.integration.faulty_server import (
    PUSHGATEWAY_INVALID,
    Answer,
    FaultyServer,
    Hang,
    Reset,
)

LOG = Path(pushrestic.__file__).parent / "examples" / "restic-backup.log"
GROUP = "/metrics/job/restic/instance/host1/location/default/backend/default"
PROCESS_OVERHEAD = 1.0  # seconds: start-up of the interpreter and the imports, at most

pytestmark = pytest.mark.integration


@dataclass(frozen=True, slots=True)
class Ran:
    code: int
    stdout: str
    stderr: str
    elapsed: float

    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("pushrestic: error:")]


def pushrestic_cli(*args: str) -> Ran:
    """Run ``python -m pushrestic ARGS`` with no PUSHRESTIC_* variables from outside."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHRESTIC_")}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pushrestic", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    ran = Ran(done.returncode, done.stdout, done.stderr, time.monotonic() - started)
    assert "Traceback" not in ran.stderr, ran.stderr
    return ran


def push(
    server: FaultyServer,
    spool: Path,
    *,
    deadline: float,
    timeout: float,
    log: Path = LOG,
    extra: tuple[str, ...] = (),
) -> Ran:
    return pushrestic_cli(
        "push",
        str(log),
        *extra,
        "--gateway",
        server.url,
        "--instance",
        "host1",
        "--deadline",
        str(deadline),
        "--timeout",
        str(timeout),
        "--spool-dir",
        str(spool),
    )


def flush(server: FaultyServer, spool: Path) -> Ran:
    return pushrestic_cli(
        "flush",
        "--gateway",
        server.url,
        "--deadline",
        "10",
        "--timeout",
        "2",
        "--spool-dir",
        str(spool),
    )


def spooled_bodies(spool: Path) -> list[bytes]:
    """The bodies of the reports waiting in the spool."""
    if not spool.is_dir():
        return []
    return [
        str(json.loads(path.read_text())["body"]).encode() for path in sorted(spool.glob("*.json"))
    ]


def assert_flush_delivers(server: FaultyServer, spool: Path, body: bytes) -> None:
    """Once the gateway is healthy, ``flush`` delivers exactly ``body`` and empties the spool."""
    server.healthy()
    before = len(server.pushes())
    flushed = flush(server, spool)
    assert flushed.code == 0, flushed.stderr
    assert flushed.stdout.splitlines() == ["delivered default/default"]
    (put,) = server.pushes()[before:]
    assert put.path == GROUP
    assert put.body == body
    assert spooled_bodies(spool) == []


@pytest.fixture
def server() -> Iterator[FaultyServer]:
    with FaultyServer() as running:
        yield running


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    return tmp_path / "spool"


def test_a_gateway_answering_503_twice_then_202_gets_the_report_and_nothing_is_spooled(
    server: FaultyServer, spool: Path
) -> None:
    server.script(Answer(503, "unavailable"), Answer(503, "unavailable"), then=Answer(202))
    ran = push(server, spool, deadline=20, timeout=2)
    assert ran.code == 0, ran.stderr
    puts = server.pushes()
    assert len(puts) == 3
    assert {put.path for put in puts} == {GROUP}
    assert len({put.body for put in puts}) == 1, "every attempt sends the same report"
    assert b"restic_backup_" in puts[0].body
    assert spooled_bodies(spool) == []
    assert ran.error_lines() == []


def test_a_push_the_gateway_rejects_is_tried_once_spooled_and_exits_75(
    server: FaultyServer, spool: Path
) -> None:
    server.script(then=Answer(400, PUSHGATEWAY_INVALID + "\n"), only=["PUT"])
    ran = push(server, spool, deadline=20, timeout=2)
    assert ran.code == 75, ran.stderr
    (put,) = server.pushes()
    (error,) = ran.error_lines()
    assert "HTTP 400" in error
    assert "pushed metrics are invalid or inconsistent with existing metrics" in error
    assert str(spool) in error
    assert spooled_bodies(spool) == [put.body], "the report is kept as it was sent"
    assert_flush_delivers(server, spool, put.body)


def test_a_gateway_that_never_answers_is_given_up_on_within_the_deadline_and_spooled(
    server: FaultyServer, spool: Path
) -> None:
    server.script(then=Hang())
    deadline, timeout = 2.0, 1.0
    ran = push(server, spool, deadline=deadline, timeout=timeout)
    assert ran.code == 75, ran.stderr
    assert ran.elapsed <= deadline + timeout + PROCESS_OVERHEAD
    (error,) = ran.error_lines()
    assert "no answer within" in error
    puts = server.pushes()
    assert puts, "the push was tried"
    assert spooled_bodies(spool) == [puts[0].body]
    assert_flush_delivers(server, spool, puts[0].body)


def test_asking_a_hung_gateway_for_the_last_success_counts_against_the_same_deadline(
    server: FaultyServer, spool: Path, tmp_path: Path
) -> None:
    failed = tmp_path / "failed.log"
    failed.write_text("Fatal: wrong password or no key found\n")
    server.script(then=Hang())
    deadline, timeout = 2.0, 1.0
    ran = push(
        server, spool, deadline=deadline, timeout=timeout, log=failed, extra=("--exit-code", "1")
    )
    assert ran.code == 75, ran.stderr
    assert ran.elapsed <= deadline + timeout + PROCESS_OVERHEAD
    assert [r.method for r in server.requests][:1] == ["GET"], "a failed run asks first"
    (body,) = spooled_bodies(spool)
    assert b"restic_backup_success" in body
    assert_flush_delivers(server, spool, body)


def test_a_connection_reset_once_is_retried_and_the_report_delivered(
    server: FaultyServer, spool: Path
) -> None:
    server.script(Reset(), then=Answer(202))
    ran = push(server, spool, deadline=20, timeout=2)
    assert ran.code == 0, ran.stderr
    assert len(server.pushes()) == 2
    assert spooled_bodies(spool) == []


def test_a_gateway_that_always_resets_leaves_the_report_spooled_for_flush(
    server: FaultyServer, spool: Path
) -> None:
    server.script(then=Reset())
    ran = push(server, spool, deadline=2, timeout=1)
    assert ran.code == 75, ran.stderr
    assert len(ran.error_lines()) == 1
    puts = server.pushes()
    assert len(puts) >= 2, "a reset is transient: it was retried"
    assert spooled_bodies(spool) == [puts[0].body]
    assert_flush_delivers(server, spool, puts[0].body)


def test_a_flush_while_the_gateway_still_fails_keeps_the_report_and_exits_75(
    server: FaultyServer, spool: Path
) -> None:
    server.script(then=Answer(503, "unavailable"))
    first = push(server, spool, deadline=1, timeout=0.5)
    assert first.code == 75, first.stderr
    (body,) = spooled_bodies(spool)
    again = pushrestic_cli(
        "flush", "--gateway", server.url, "--deadline", "1", "--timeout", "0.5",
        "--spool-dir", str(spool),
    )  # fmt: skip
    assert again.code == 75, again.stderr
    assert "still spooled: default/default" in again.stderr
    assert spooled_bodies(spool) == [body]
    assert_flush_delivers(server, spool, body)


def test_an_infinite_deadline_and_timeout_never_crash_or_lose_the_report(
    server: FaultyServer, spool: Path
) -> None:
    server.script(then=Answer(503, "unavailable"))
    ran = pushrestic_cli(
        "push", str(LOG), "--gateway", server.url, "--instance", "host1", "--attempts", "1",
        "--deadline", "inf", "--timeout", "inf", "--spool-dir", str(spool),
    )  # fmt: skip
    assert "internal error" not in ran.stderr
    assert ran.code in (2, 75), ran.stderr
    if ran.code == 75:
        assert len(spooled_bodies(spool)) == 1, "a failed push keeps the report"
