"""The transport and the installed command against a faulty gateway.

One request (:func:`pushrestic.sinks.pushgateway.http.request`, in a process of its own so
that its time and peak memory can be read) against a real local HTTP server
(faulty_server.py) that dribbles its headers or body a byte at a time, never
answers or answers hundreds of MB: it ends within the time it was given plus a
small constant, and reads a bounded amount of body.

``python -m pushrestic push`` runs as a process against the same server, which
answers 503, rejects the push, resets the connection, never answers or
dribbles. Whatever happens the report is not lost: it is delivered, or kept in
the spool and delivered by a later ``pushrestic flush``; and the invocation
ends within its ``--deadline`` plus a small constant.

Time bounds are one-sided and generous (:data:`SLACK`): a loaded machine makes
a run slower, never faster, and the faults tested last far longer than the bound.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

import pushrestic
from tests import cli
from tests.faulty_server import (
    PUSHGATEWAY_INVALID,
    Answer,
    Dribble,
    FaultyServer,
    Hang,
    Huge,
    Reset,
)

LOG = Path(pushrestic.__file__).parent / "examples" / "restic-backup.log"
GROUP = "/metrics/job/restic/instance/host1/location/default/backend/default"
# Seconds beyond a deadline or timeout that a run may take: start-up, imports, a busy
# machine. One-sided and generous; every fault below would last far longer without the fix.
SLACK = 10.0
DRIBBLE_LIMIT = 60.0  # seconds a dribbling answer lasts at most: well beyond every bound
MiB = 1024 * 1024
# Peak resident memory of a process that made one request: the interpreter with requests
# and pushrestic takes some 40 MiB; a body read whole would take hundreds.
PEAK_RSS_LIMIT = 150 * MiB

pytestmark = pytest.mark.integration


def push(
    server: FaultyServer,
    spool: Path,
    *,
    deadline: float,
    timeout: float,
    log: Path = LOG,
    extra: tuple[str, ...] = (),
) -> cli.Ran:
    return cli.pushrestic(
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


def flush(server: FaultyServer, spool: Path) -> cli.Ran:
    return cli.pushrestic(
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


@dataclass(frozen=True, slots=True)
class Probed:
    """One request made by a process of its own: how long it took, how it ended, its peak RSS."""

    elapsed: float
    error: str | None
    transient: bool | None
    status: int | None
    body_length: int | None
    peak_rss: int


_PROBE = """
import json, resource, sys, time
from pushrestic.sinks.pushgateway.http import PushError, TransportSettings, make_session, request

url, timeout, extra = sys.argv[1], float(sys.argv[2]), json.loads(sys.argv[3])
session = make_session(TransportSettings())
started = time.monotonic()
outcome = {"error": None, "transient": None, "status": None, "body_length": None}
try:
    response = request(session, "GET", url, timeout=timeout, **extra)
    outcome["status"], outcome["body_length"] = response.status_code, len(response.content)
except PushError as error:
    outcome.update(error=str(error), transient=error.transient, status=error.status)
outcome["elapsed"] = time.monotonic() - started
outcome["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps(outcome))
"""


def probe(server: FaultyServer, timeout: float, **extra: object) -> Probed:
    """``request(session, "GET", server, timeout=timeout, **extra)`` in a process of its own."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, server.url + "/api/v1/metrics", str(timeout),
         json.dumps(extra)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return Probed(**json.loads(done.stdout))


@pytest.fixture
def server() -> Iterator[FaultyServer]:
    with FaultyServer() as running:
        yield running


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    return tmp_path / "spool"


# -- one request against a misbehaving server ----------------------------------------


@pytest.mark.parametrize("part", ["headers", "body"])
@pytest.mark.parametrize("status", [200, 503])
def test_a_server_dribbling_a_byte_at_a_time_cannot_outlast_the_timeout(
    server: FaultyServer, part: Literal["headers", "body"], status: int
) -> None:
    server.script(then=Dribble(part=part, status=status, interval=0.2, limit=DRIBBLE_LIMIT))
    timeout = 2.0
    ran = probe(server, timeout)
    assert ran.elapsed <= timeout + SLACK
    assert ran.error is not None
    assert ran.error.endswith(f"no answer within {timeout} s")
    assert ran.transient


def test_a_server_that_never_answers_is_given_up_on_after_the_timeout(
    server: FaultyServer,
) -> None:
    server.script(then=Hang())
    timeout = 1.0
    ran = probe(server, timeout)
    assert ran.elapsed <= timeout + SLACK
    assert ran.error is not None
    assert ran.error.endswith(f"no answer within {timeout} s")


@pytest.mark.parametrize("announced", [True, False], ids=["with-length", "without-length"])
def test_a_huge_error_body_is_read_only_up_to_a_small_cap(
    server: FaultyServer, announced: bool
) -> None:
    server.script(then=Huge(status=400, size=300 * MiB, announced=announced))
    timeout = 10.0
    ran = probe(server, timeout)
    assert ran.peak_rss <= PEAK_RSS_LIMIT, f"{ran.peak_rss / MiB:.0f} MiB"
    assert ran.elapsed <= timeout + SLACK
    assert ran.status == 400
    assert ran.transient is False
    assert ran.error is not None
    assert "HTTP 400: too much too much" in ran.error
    assert len(ran.error) < 400, "the message quotes at most 300 characters of the answer"


@pytest.mark.parametrize("announced", [True, False], ids=["with-length", "without-length"])
def test_a_success_body_beyond_max_body_fails_clearly_without_reading_it_all(
    server: FaultyServer, announced: bool
) -> None:
    server.script(then=Huge(status=200, size=300 * MiB, announced=announced))
    ran = probe(server, 10.0, max_body=1 * MiB)
    assert ran.peak_rss <= PEAK_RSS_LIMIT, f"{ran.peak_rss / MiB:.0f} MiB"
    assert ran.error is not None
    assert "answer is larger than 1048576 bytes" in ran.error
    assert ran.transient is False


def test_a_success_body_within_max_body_is_returned_whole(server: FaultyServer) -> None:
    server.script(then=Huge(status=200, size=3 * MiB))
    ran = probe(server, 10.0, max_body=3 * MiB)
    assert ran.error is None
    assert (ran.status, ran.body_length) == (200, 3 * MiB)


# -- the installed command ---------------------------------------------------------


@pytest.mark.parametrize("part", ["headers", "body"])
def test_a_push_to_a_gateway_dribbling_its_answer_ends_within_the_deadline_and_exits_75(
    server: FaultyServer, spool: Path, part: Literal["headers", "body"]
) -> None:
    server.script(then=Dribble(part=part, interval=0.5, limit=DRIBBLE_LIMIT))
    deadline, timeout = 5.0, 10.0
    ran = push(server, spool, deadline=deadline, timeout=timeout)
    assert ran.code == 75, ran.stderr
    assert ran.elapsed < deadline + 2 * SLACK
    (error,) = ran.error_lines()
    # The attempt's timeout is the time left of the deadline, said to a tenth of a second.
    assert re.search(r"no answer within \d\.\d s$", error), error
    puts = server.pushes()
    assert puts, "the push was tried"
    assert spooled_bodies(spool) == [puts[0].body]


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


def test_a_push_the_gateway_rejects_is_tried_once_kept_aside_and_exits_75(
    server: FaultyServer, spool: Path
) -> None:
    server.script(then=Answer(400, PUSHGATEWAY_INVALID + "\n"), only=["PUT"])
    ran = push(server, spool, deadline=20, timeout=2)
    assert ran.code == 75, ran.stderr
    (put,) = server.pushes()
    (error,) = ran.error_lines()
    assert "HTTP 400" in error
    assert "pushed metrics are invalid or inconsistent with existing metrics" in error
    assert str(spool / "rejected") in error
    assert spooled_bodies(spool) == [], "a refused report is never retried by itself"
    assert spooled_bodies(spool / "rejected") == [put.body], "it is kept as it was sent"
    server.healthy()
    flushed = flush(server, spool)
    assert flushed.code == 0, flushed.stderr
    assert len(server.pushes()) == 1, "flush leaves it alone"
    assert "refused default/default" in flushed.stdout
    assert PUSHGATEWAY_INVALID.split()[0] in flushed.stdout


def test_a_gateway_that_never_answers_is_given_up_on_within_the_deadline_and_spooled(
    server: FaultyServer, spool: Path
) -> None:
    server.script(then=Hang())
    deadline, timeout = 2.0, 1.0
    ran = push(server, spool, deadline=deadline, timeout=timeout)
    assert ran.code == 75, ran.stderr
    assert ran.elapsed <= deadline + timeout + SLACK
    (error,) = ran.error_lines()
    # The attempt's timeout is the time left of the deadline, said to a tenth of a second.
    assert re.search(r"no answer within \d\.\d s$", error), error
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
    assert ran.elapsed <= deadline + timeout + SLACK
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
    ran = push(server, spool, deadline=30, timeout=5, extra=("--attempts", "2"))
    assert ran.code == 75, ran.stderr
    assert len(ran.error_lines()) == 1
    puts = server.pushes()
    assert len(puts) == 2, "a reset is transient: it was retried, as often as allowed"
    assert spooled_bodies(spool) == [puts[0].body]
    assert_flush_delivers(server, spool, puts[0].body)


def test_a_flush_while_the_gateway_still_fails_keeps_the_report_and_exits_75(
    server: FaultyServer, spool: Path
) -> None:
    server.script(then=Answer(503, "unavailable"))
    first = push(server, spool, deadline=1, timeout=0.5)
    assert first.code == 75, first.stderr
    (body,) = spooled_bodies(spool)
    again = cli.pushrestic(
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
    ran = cli.pushrestic(
        "push", str(LOG), "--gateway", server.url, "--instance", "host1", "--attempts", "1",
        "--deadline", "inf", "--timeout", "inf", "--spool-dir", str(spool),
    )  # fmt: skip
    assert "internal error" not in ran.stderr
    assert ran.code in (2, 75), ran.stderr
    if ran.code == 75:
        assert len(spooled_bodies(spool)) == 1, "a failed push keeps the report"
