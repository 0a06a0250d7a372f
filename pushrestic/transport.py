"""HTTP transport to the Pushgateway: a requests handler and a tenacity retry policy.

:func:`make_handler` returns a handler with prometheus_client's signature
(``handler(url, method, timeout, headers, data)`` returning a callable that
sends the request and raises on failure), so it plugs into
``push_to_gateway``/``delete_from_gateway`` as well as into pushrestic's own
calls. It adds auth, TLS settings, a per-request timeout and
``User-Agent: pushrestic/VERSION``, and classifies failures: connection errors,
timeouts, 5xx, 408 and 429 are transient; any other 4xx is permanent and its
message quotes the gateway's answer.

:class:`RetryPolicy` is the retry policy as settings; :func:`send` runs one
request under it with tenacity: transient faults only, exponential backoff with
jitter, ``Retry-After`` honoured, and a total deadline that no attempt or wait
crosses, so that a hook never hangs a backup unit. Secrets never appear in
messages: URLs are shown without user info.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from pushrestic import __version__
from pushrestic.errors import DeliveryError

if TYPE_CHECKING:
    import requests
    import tenacity

log = logging.getLogger(__name__)

USER_AGENT = f"pushrestic/{__version__}"
Headers = Sequence[tuple[str, str]]
Handler = Callable[[str, str, float | None, Headers, bytes], Callable[[], None]]


class PushError(DeliveryError):
    """One request failed. ``transient`` failures are worth retrying."""

    def __init__(
        self,
        message: str,
        *,
        transient: bool,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try. Defaults: 5 attempts within 60 s, 10 s per request."""

    attempts: int = 5
    deadline: float = 60.0
    timeout: float = 10.0
    backoff_initial: float = 0.5
    backoff_max: float = 10.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        for name in ("deadline", "timeout", "backoff_initial", "backoff_max"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
        if not (math.isfinite(self.jitter) and self.jitter >= 0):
            raise ValueError(f"jitter must be a number of seconds, not {self.jitter!r}")


@dataclass(frozen=True, slots=True)
class TransportSettings:
    """Auth and TLS. ``password``/``bearer_token`` come from files or the environment only."""

    username: str | None = None
    password: str | None = None
    bearer_token: str | None = None
    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    insecure: bool = False

    def __repr__(self) -> str:  # never print secrets, even in a debug log
        shown = {
            "username": self.username,
            "password": "<redacted>" if self.password else None,
            "bearer_token": "<redacted>" if self.bearer_token else None,
            "ca_file": self.ca_file,
            "client_cert": self.client_cert,
            "client_key": self.client_key,
            "insecure": self.insecure,
        }
        return f"TransportSettings({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


def redact_url(url: str) -> str:
    """The URL without any user info, for messages."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def make_session(settings: TransportSettings) -> requests.Session:
    """A requests Session carrying the auth and TLS settings."""
    import requests

    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    session.trust_env = False  # no proxy from the environment: the gateway is addressed directly
    if settings.bearer_token:
        session.headers["Authorization"] = f"Bearer {settings.bearer_token}"
    elif settings.username is not None:
        # As UTF-8 bytes: requests would encode str credentials as Latin-1.
        session.auth = requests.auth.HTTPBasicAuth(
            settings.username.encode(), (settings.password or "").encode()
        )
    if settings.insecure:
        log.warning("TLS certificate verification is off (--insecure): use only for testing")
        session.verify = False
        import urllib3

        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    elif settings.ca_file:
        session.verify = settings.ca_file
    if settings.client_cert:
        session.cert = (
            (settings.client_cert, settings.client_key)
            if settings.client_key
            else settings.client_cert
        )
    return session


def make_handler(session: requests.Session) -> Handler:
    """A prometheus_client push handler that sends through ``session``."""

    def handler(
        url: str, method: str, timeout: float | None, headers: Headers, data: bytes
    ) -> Callable[[], None]:
        def send_once() -> None:
            request(session, method, url, timeout=timeout, headers=headers, data=data)

        return send_once

    return handler


def request(
    session: requests.Session,
    method: str,
    url: str,
    *,
    timeout: float | None,
    headers: Headers = (),
    data: bytes | None = None,
) -> requests.Response:
    """Send one request; raise PushError (transient or not) unless the answer is 2xx."""
    import requests

    shown = redact_url(url)
    try:
        response = session.request(
            method, url, data=data, headers=dict(headers), timeout=timeout, allow_redirects=False
        )
    except requests.exceptions.SSLError as error:
        raise PushError(f"{method} {shown}: TLS error: {_reason(error)}", transient=False) from None
    except requests.exceptions.Timeout:
        raise PushError(f"{method} {shown}: no answer within {timeout} s", transient=True) from None
    except requests.exceptions.ConnectionError as error:
        raise PushError(f"{method} {shown}: {_reason(error)}", transient=True) from None
    except requests.exceptions.InvalidHeader:  # its message would quote the header: a secret
        raise PushError(
            f"{method} {shown}: a header is not valid (a password or token with a line break?)",
            transient=False,
        ) from None
    except requests.exceptions.RequestException as error:
        raise PushError(f"{method} {shown}: {_reason(error)}", transient=False) from None
    status = response.status_code
    if 200 <= status < 300:
        return response
    body = " ".join(response.text.split())[:300]
    message = f"{method} {shown}: HTTP {status}" + (f": {body}" if body else "")
    transient = status >= 500 or status in (408, 429)
    raise PushError(
        message,
        transient=transient,
        status=status,
        retry_after=_retry_after(response.headers.get("Retry-After")),
    )


def send(
    attempt: Callable[[float], object],
    policy: RetryPolicy,
    *,
    what: str = "request",
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Run ``attempt(timeout)`` under ``policy``; re-raise the last PushError when it gives up.

    Each attempt gets ``min(policy.timeout, time left)``; a wait that would end
    past the deadline ends the retries instead.
    """
    import tenacity

    started = time.monotonic()

    def remaining() -> float:
        return policy.deadline - (time.monotonic() - started)

    def wait(state: tenacity.RetryCallState) -> float:
        exponent = float(2 ** (state.attempt_number - 1))
        backoff = min(policy.backoff_max, policy.backoff_initial * exponent)
        backoff += _jitter(policy.jitter)
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, PushError) and error.retry_after is not None:
            backoff = max(backoff, error.retry_after)
        return backoff

    def stop(state: tenacity.RetryCallState) -> bool:
        if state.attempt_number >= policy.attempts:
            return True
        upcoming = state.upcoming_sleep if state.upcoming_sleep else wait(state)
        return upcoming >= remaining() - 0.05

    def before_sleep(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        log.info(
            "%s failed (attempt %d of %d): %s; retrying in %.1f s",
            what,
            state.attempt_number,
            policy.attempts,
            error,
            state.upcoming_sleep,
        )

    retrying = tenacity.Retrying(
        stop=stop,
        wait=wait,
        retry=tenacity.retry_if_exception(lambda e: isinstance(e, PushError) and e.transient),
        before_sleep=before_sleep,
        sleep=sleep,
        reraise=True,
    )
    for attempt_state in retrying:
        with attempt_state:
            attempt(max(0.05, min(policy.timeout, remaining())))


def _jitter(amount: float) -> float:
    import random

    return random.uniform(0, amount) if amount > 0 else 0.0


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (a number of seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def _reason(error: BaseException) -> str:
    """A short reason for a requests exception: the innermost cause, without URLs."""
    inner: BaseException = error
    for _ in range(10):  # requests wraps urllib3, which wraps the socket or SSL error
        nested = getattr(inner, "reason", None)
        if isinstance(nested, BaseException):
            inner = nested
            continue
        causes = [arg for arg in inner.args if isinstance(arg, BaseException)]
        if not causes:
            break
        inner = causes[-1]
    if isinstance(inner, OSError) and inner.strerror:
        text = inner.strerror
    elif inner.args and isinstance(inner.args[-1], str):
        text = inner.args[-1]
    else:
        text = str(inner)
    text = text.split("Failed to establish a new connection: ", 1)[-1]
    return " ".join(text.split())[:200] or type(inner).__name__


__all__ = [
    "USER_AGENT",
    "Handler",
    "PushError",
    "RetryPolicy",
    "TransportSettings",
    "make_handler",
    "make_session",
    "redact_url",
    "request",
    "send",
]
