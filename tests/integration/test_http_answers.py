"""The transport against a real local HTTP server (tests/faulty_server.py) that answers
at once: which answers are retried and how often, resets and refused connections,
what the gateway sees (User-Agent, credentials, redirects), Retry-After, and the
transport object. The retry policy runs on a fake clock (:class:`tests.fakes.FakeTime`),
so no test depends on how fast the machine is. Faults that take real time (hangs,
dribbling, huge answers) are in test_faults.py.
"""

from __future__ import annotations

import base64
import email.utils
import time
from collections.abc import Callable, Iterator

import pytest
import requests

from pushrestic import __version__
from pushrestic.sinks.pushgateway.http import (
    USER_AGENT,
    PushError,
    RetryPolicy,
    SessionTransport,
    TransportSettings,
    make_session,
    request,
    send,
)
from tests.fakes import FakeTime
from tests.faulty_server import (
    PUSHGATEWAY_INVALID,
    Answer,
    FaultyServer,
    Reset,
)
from tests.integration.servers import free_port

BODY = b"# TYPE restic_backup_success gauge\nrestic_backup_success 1\n"
PATH = "/metrics/job/restic/instance/host1/location/docs/backend/local"
# No jitter: the waits are then exact. The timeout is generous: the local server answers at
# once, and a loaded machine must not turn its answer into a timeout.
FAST = RetryPolicy(attempts=5, deadline=600.0, timeout=30.0, backoff_initial=0.05, jitter=0.0)
PATIENT = 30.0  # seconds: the timeout of a single request to the local server


@pytest.fixture
def server() -> Iterator[FaultyServer]:
    with FaultyServer() as running:
        yield running


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


@pytest.fixture
def session() -> Iterator[requests.Session]:
    opened = make_session(TransportSettings())
    yield opened
    opened.close()


def pusher(session: requests.Session, server: FaultyServer) -> Callable[[float], object]:
    """One PUT of BODY to the server, with the timeout that ``send`` gives it."""
    url = server.url + PATH
    return lambda timeout: request(
        session, "PUT", url, timeout=timeout, headers=(("Content-Type", "text/plain"),), data=BODY
    )


def send_fake(attempt: Callable[[float], object], policy: RetryPolicy, fake: FakeTime) -> None:
    """``send`` on the fake clock: its waits are recorded in ``fake.sleeps``, never slept."""
    send(attempt, policy, sleep=fake.sleep, clock=fake.clock)


# -- how often each fault is tried ----------------------------------------------


def test_a_gateway_answering_503_twice_then_200_is_tried_three_times_and_succeeds(
    server: FaultyServer, session: requests.Session, fake: FakeTime
) -> None:
    server.script(Answer(503, "unavailable"), Answer(503, "unavailable"), then=Answer(200))
    send_fake(pusher(session, server), FAST, fake)
    puts = server.pushes("PUT")
    assert len(puts) == 3
    assert all(put.body == BODY and put.path == PATH for put in puts)
    assert fake.sleeps == [0.05, 0.1]


def test_a_permanent_400_is_tried_once_and_the_error_quotes_the_gateways_answer(
    server: FaultyServer, session: requests.Session, fake: FakeTime
) -> None:
    server.script(then=Answer(400, PUSHGATEWAY_INVALID + "\n"))
    with pytest.raises(PushError) as caught:
        send_fake(pusher(session, server), FAST, fake)
    assert len(server.requests) == 1
    assert fake.sleeps == []
    assert not caught.value.transient
    assert caught.value.status == 400
    assert "HTTP 400" in str(caught.value)
    assert "pushed metrics are invalid or inconsistent with existing metrics" in str(caught.value)


@pytest.mark.parametrize("status", [401, 403, 404, 405, 409, 413, 422])
def test_other_4xx_answers_are_permanent(
    status: int, server: FaultyServer, session: requests.Session, fake: FakeTime
) -> None:
    server.script(then=Answer(status, "no"))
    with pytest.raises(PushError) as caught:
        send_fake(pusher(session, server), FAST, fake)
    assert not caught.value.transient
    assert len(server.requests) == 1


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504])
def test_408_and_5xx_answers_are_transient_and_retried(
    status: int, server: FaultyServer, session: requests.Session, fake: FakeTime
) -> None:
    server.script(Answer(status, "later"), then=Answer(202))
    send_fake(pusher(session, server), FAST, fake)
    assert len(server.requests) == 2


def test_a_429_with_retry_after_2_waits_2_seconds_before_the_second_attempt(
    server: FaultyServer, session: requests.Session, fake: FakeTime
) -> None:
    server.script(Answer(429, "slow down", (("Retry-After", "2"),)), then=Answer(202))
    send_fake(pusher(session, server), FAST, fake)
    assert len(server.requests) == 2
    assert fake.sleeps == [2.0]


def test_a_retry_after_longer_than_the_time_left_ends_the_retries_at_once(
    server: FaultyServer, session: requests.Session, fake: FakeTime
) -> None:
    server.script(then=Answer(429, "slow down", (("Retry-After", "30"),)))
    policy = RetryPolicy(attempts=5, deadline=3.0, timeout=1.0, backoff_initial=0.05, jitter=0.0)
    with pytest.raises(PushError) as caught:
        send_fake(pusher(session, server), policy, fake)
    assert fake.sleeps == []
    assert caught.value.status == 429
    assert len(server.requests) == 1


def test_a_connection_reset_is_transient_and_retried(
    server: FaultyServer, session: requests.Session, fake: FakeTime
) -> None:
    server.script(Reset(), then=Answer(202))
    send_fake(pusher(session, server), FAST, fake)
    assert [type(r.action).__name__ for r in server.requests] == ["Reset", "Answer"]


def test_a_reset_answer_is_a_transient_push_error_without_a_traceback(
    server: FaultyServer, session: requests.Session
) -> None:
    server.script(then=Reset())
    with pytest.raises(PushError) as caught:
        request(session, "PUT", server.url + PATH, timeout=PATIENT, data=BODY)
    assert caught.value.transient
    assert caught.value.__cause__ is None
    assert "Traceback" not in str(caught.value)


def test_a_refused_connection_is_transient_and_names_the_url(session: requests.Session) -> None:
    url = f"http://127.0.0.1:{free_port()}{PATH}"
    with pytest.raises(PushError) as caught:
        request(session, "PUT", url, timeout=PATIENT, data=BODY)
    assert caught.value.transient
    assert str(caught.value).startswith(f"PUT {url}: ")


def test_attempts_stop_at_the_policys_number(
    server: FaultyServer, session: requests.Session, fake: FakeTime
) -> None:
    server.script(then=Answer(503, "down"))
    policy = RetryPolicy(attempts=3, deadline=600.0, timeout=PATIENT, jitter=0.0)
    with pytest.raises(PushError) as caught:
        send_fake(pusher(session, server), policy, fake)
    assert caught.value.status == 503
    assert len(server.requests) == 3
    assert len(fake.sleeps) == 2


# -- what the gateway sees ------------------------------------------------------


def test_every_request_says_pushrestic_and_its_version_in_the_user_agent(
    server: FaultyServer, session: requests.Session
) -> None:
    request(session, "PUT", server.url + PATH, timeout=PATIENT, data=BODY)
    assert server.requests[0].header("User-Agent") == f"pushrestic/{__version__}"


def test_basic_auth_credentials_are_sent_in_the_authorization_header(
    server: FaultyServer,
) -> None:
    session = make_session(TransportSettings(username="backup", password="s3cr3t"))
    request(session, "PUT", server.url + PATH, timeout=PATIENT, data=BODY)
    expected = "Basic " + base64.b64encode(b"backup:s3cr3t").decode()
    assert server.requests[0].header("Authorization") == expected


def test_a_bearer_token_is_sent_as_bearer_authorization(server: FaultyServer) -> None:
    session = make_session(TransportSettings(bearer_token="tok-123"))
    request(session, "PUT", server.url + PATH, timeout=PATIENT, data=BODY)
    assert server.requests[0].header("Authorization") == "Bearer tok-123"


def test_a_redirect_is_not_followed(server: FaultyServer, session: requests.Session) -> None:
    server.script(Answer(307, "", (("Location", "http://127.0.0.1:1/elsewhere"),)))
    with pytest.raises(PushError) as caught:
        request(session, "PUT", server.url + PATH, timeout=PATIENT, data=BODY)
    assert caught.value.status == 307
    assert len(server.requests) == 1


# -- Retry-After ------------------------------------------------------------------


def test_retry_after_as_an_http_date_becomes_the_seconds_until_then(
    server: FaultyServer, session: requests.Session
) -> None:
    when = email.utils.formatdate(time.time() + 3600, usegmt=True)
    server.script(Answer(503, "maintenance", (("Retry-After", when),)))
    with pytest.raises(PushError) as caught:
        request(session, "PUT", server.url + PATH, timeout=PATIENT, data=BODY)
    assert caught.value.retry_after is not None
    # Whole seconds in the header, and however slow the machine: within a generous minute.
    assert 3540 <= caught.value.retry_after <= 3600


def test_retry_after_as_a_date_in_the_past_means_no_wait(
    server: FaultyServer, session: requests.Session
) -> None:
    when = email.utils.formatdate(time.time() - 60, usegmt=True)
    server.script(Answer(503, "maintenance", (("Retry-After", when),)))
    with pytest.raises(PushError) as caught:
        request(session, "PUT", server.url + PATH, timeout=PATIENT, data=BODY)
    assert caught.value.retry_after == 0.0


@pytest.mark.parametrize("value", ["soon", "-3", "1.5e3", ""])
def test_a_retry_after_that_is_neither_seconds_nor_a_date_is_ignored(
    value: str, server: FaultyServer, session: requests.Session
) -> None:
    server.script(Answer(429, "slow down", (("Retry-After", value),)))
    with pytest.raises(PushError) as caught:
        request(session, "PUT", server.url + PATH, timeout=PATIENT, data=BODY)
    assert caught.value.transient
    assert caught.value.retry_after is None


# -- the transport object ------------------------------------------------------------


def test_a_session_transport_sends_the_request_with_its_headers_and_user_agent(
    server: FaultyServer,
) -> None:
    transport = SessionTransport(TransportSettings(bearer_token="tok-123"))
    headers = (("Content-Type", "text/plain; version=0.0.4"),)
    answer = transport.request(
        "PUT", server.url + "/metrics/job/nightly", timeout=PATIENT, headers=headers, data=b"x 1\n"
    )
    assert answer == b""
    (put,) = server.requests
    assert (put.method, put.path, put.body) == ("PUT", "/metrics/job/nightly", b"x 1\n")
    assert put.header("Content-Type") == "text/plain; version=0.0.4"
    assert put.header("User-Agent") == USER_AGENT
    assert put.header("Authorization") == "Bearer tok-123"


def test_a_session_transport_returns_the_body_of_a_2xx_answer(server: FaultyServer) -> None:
    server.script(then=Answer(200, '{"status":"success","data":[]}'))
    transport = SessionTransport(TransportSettings())
    answer = transport.request("GET", server.url + "/api/v1/metrics", timeout=PATIENT)
    assert answer == b'{"status":"success","data":[]}'


def test_a_session_transport_raises_a_push_error_quoting_the_gateway_on_failure(
    server: FaultyServer,
) -> None:
    server.script(then=Answer(400, PUSHGATEWAY_INVALID))
    transport = SessionTransport(TransportSettings())
    with pytest.raises(PushError, match="pushed metrics are invalid or inconsistent") as caught:
        transport.request("PUT", server.url + "/metrics/job/nightly", timeout=PATIENT, data=b"")
    assert not caught.value.transient
