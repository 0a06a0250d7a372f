"""The transport's retry policy and the rules that need no HTTP peer: how long and how
often ``send`` tries, on a fake clock (:class:`tests.fakes.FakeTime`: its sleeps advance
the clock instead of waiting, so counts, waits and the deadline are exact), the
policy's own checks, and what a URL or the settings may show. What a server's
answers do is in tests/integration/test_http_answers.py.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pushrestic.sinks.pushgateway.http import (
    PushError,
    RetryPolicy,
    TransportSettings,
    redact_url,
    send,
)
from tests.fakes import FakeTime

# No jitter: the waits are then exact.
FAST = RetryPolicy(attempts=5, deadline=600.0, timeout=30.0, backoff_initial=0.05, jitter=0.0)


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


def send_fake(attempt: Callable[[float], object], policy: RetryPolicy, fake: FakeTime) -> None:
    """``send`` on the fake clock: its waits are recorded in ``fake.sleeps``, never slept."""
    send(attempt, policy, sleep=fake.sleep, clock=fake.clock)


# -- the deadline ---------------------------------------------------------------


def hanging(fake: FakeTime, timeouts: list[float]) -> Callable[[float], object]:
    """An attempt that uses all of its timeout and then fails as a timeout does."""

    def attempt(timeout: float) -> None:
        timeouts.append(timeout)
        fake.spend(timeout)
        raise PushError(f"PUT gw: no answer within {timeout} s", transient=True)

    return attempt


def test_a_gateway_that_never_answers_is_retried_until_the_deadline_and_no_further(
    fake: FakeTime,
) -> None:
    timeouts: list[float] = []
    policy = RetryPolicy(attempts=100, deadline=2.0, timeout=0.5, backoff_initial=0.05, jitter=0)
    started = fake.now
    with pytest.raises(PushError) as caught:
        send_fake(hanging(fake, timeouts), policy, fake)
    assert caught.value.transient
    assert "no answer within" in str(caught.value)
    assert len(timeouts) >= 2, "a timeout is transient: it was retried"
    assert fake.now - started <= policy.deadline


def test_the_deadline_holds_however_many_attempts_are_left(fake: FakeTime) -> None:
    starts: list[float] = []

    def attempt(timeout: float) -> None:
        starts.append(fake.now)
        fake.spend(0.01)  # a quick 503
        raise PushError("HTTP 503", transient=True, status=503)

    # No jitter: with it the waits, and so the count, would be random.
    policy = RetryPolicy(attempts=1000, deadline=1.0, timeout=0.5, backoff_initial=0.05, jitter=0)
    started = fake.now
    with pytest.raises(PushError):
        send_fake(attempt, policy, fake)
    assert fake.now - started <= policy.deadline
    # Attempts at 0, 0.06, 0.17, 0.38 and 0.79 s; the next wait (0.8 s) would cross the deadline.
    assert [round(start - started, 2) for start in starts] == [0.0, 0.06, 0.17, 0.38, 0.79]
    assert fake.sleeps == [0.05, 0.1, 0.2, 0.4]


def test_each_attempt_gets_no_more_than_the_time_left(fake: FakeTime) -> None:
    timeouts: list[float] = []
    policy = RetryPolicy(attempts=10, deadline=1.0, timeout=0.4, backoff_initial=0.01, jitter=0)
    started = fake.now
    with pytest.raises(PushError):
        send_fake(hanging(fake, timeouts), policy, fake)
    assert timeouts[0] == pytest.approx(0.4)
    assert timeouts[-1] < 0.4, "the last attempt only got what was left of the deadline"
    assert fake.now - started == pytest.approx(policy.deadline)


def test_the_time_left_is_read_from_the_clock_not_from_the_attempts(fake: FakeTime) -> None:
    timeouts: list[float] = []

    def attempt(timeout: float) -> None:
        timeouts.append(timeout)
        fake.spend(0.7)  # the machine was busy: the attempt took longer than it was given
        raise PushError("HTTP 503", transient=True, status=503)

    policy = RetryPolicy(attempts=10, deadline=1.0, timeout=0.5, backoff_initial=0.01, jitter=0)
    with pytest.raises(PushError):
        send_fake(attempt, policy, fake)
    assert timeouts == [0.5, pytest.approx(0.29)]


def test_a_permanent_error_is_raised_at_once_without_sleeping(fake: FakeTime) -> None:
    def attempt(timeout: float) -> None:
        raise PushError("HTTP 400: bad", transient=False, status=400)

    with pytest.raises(PushError):
        send_fake(attempt, FAST, fake)
    assert fake.sleeps == []


def test_the_waits_between_attempts_grow_exponentially_up_to_the_maximum(
    fake: FakeTime,
) -> None:
    def attempt(timeout: float) -> None:
        raise PushError("HTTP 503", transient=True, status=503)

    policy = RetryPolicy(
        attempts=6, deadline=1000.0, backoff_initial=0.5, backoff_max=3.0, jitter=0.0
    )
    with pytest.raises(PushError):
        send_fake(attempt, policy, fake)
    assert fake.sleeps == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_jitter_adds_at_most_its_amount_to_each_wait(fake: FakeTime) -> None:
    def attempt(timeout: float) -> None:
        raise PushError("HTTP 503", transient=True, status=503)

    policy = RetryPolicy(attempts=4, deadline=1000.0, backoff_initial=1.0, jitter=0.5)
    with pytest.raises(PushError):
        send_fake(attempt, policy, fake)
    for wait, backoff in zip(fake.sleeps, [1.0, 2.0, 4.0], strict=True):
        assert backoff <= wait <= backoff + 0.5


# -- RetryPolicy ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("attempts", 0),
        ("attempts", -1),
        ("deadline", 0.0),
        ("deadline", -5.0),
        ("deadline", float("nan")),
        ("timeout", 0.0),
        ("timeout", -1.0),
        ("timeout", float("nan")),
    ],
)
def test_a_retry_policy_rejects_nonsense(name: str, value: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        RetryPolicy(**{name: value})  # type: ignore[arg-type]


def test_the_default_retry_policy_is_five_attempts_in_60_seconds_10_each() -> None:
    policy = RetryPolicy()
    assert (policy.attempts, policy.deadline, policy.timeout) == (5, 60.0, 10.0)


# -- what the gateway sees ------------------------------------------------------


def test_transport_settings_never_show_their_secrets() -> None:
    settings = TransportSettings(username="backup", password="s3cr3t", bearer_token="tok-123")
    shown = repr(settings) + str(settings)
    assert "s3cr3t" not in shown
    assert "tok-123" not in shown
    assert "backup" in shown


# -- redact_url -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://gw:9091/metrics", "http://gw:9091/metrics"),
        ("https://user:secret@gw:9091/metrics/job/x", "https://gw:9091/metrics/job/x"),
        ("https://user@gw/metrics?a=b#f", "https://gw/metrics?a=b#f"),
        ("http://:secret@gw", "http://gw"),
        ("http://user:secret@[::1]:9091/metrics", "http://[::1]:9091/metrics"),
    ],
)
def test_redact_url_removes_user_info_and_keeps_the_rest(url: str, shown: str) -> None:
    assert redact_url(url) == shown
