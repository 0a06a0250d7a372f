"""HTTP transport of the push sinks (Pushgateway, remote-write) and its retry policy.

A :class:`Transport` sends one request and returns the body of a 2xx answer;
:class:`SessionTransport` is the real one (tests pass a fake to the deliverer).
It adds auth, TLS settings, a per-request timeout and
``User-Agent: pushrestic/VERSION``, and classifies failures: connection errors,
timeouts, 5xx, 408 and 429 are transient; any other 4xx is permanent and its
message quotes the gateway's answer.

A request's timeout bounds the whole request, not each socket read: a server
that dribbles its headers or body a byte at a time, or never answers, is cut
off when the time is up (a watchdog shuts the connection's socket down, which
ends whatever read or write is blocked on it). Bodies are read in chunks and
never whole: an error answer up to :data:`MAX_ERROR_BODY` bytes (its message
quotes the start), a 2xx answer up to the caller's ``max_body``
(:data:`MAX_BODY` unless told), beyond which the request fails.

:class:`RetryPolicy` is the retry policy as settings; :func:`send` runs one
request under it with tenacity: transient faults only, exponential backoff with
jitter, ``Retry-After`` honoured, and a total deadline that no attempt or wait
crosses, so that a hook never hangs a backup unit. Secrets never appear in
messages: URLs are shown without user info.
"""

from __future__ import annotations

import contextlib
import logging
import math
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Protocol

from pushrestic import __version__
from pushrestic.errors import DeliveryError

if TYPE_CHECKING:
    import requests
    import tenacity

log = logging.getLogger(__name__)

USER_AGENT = f"pushrestic/{__version__}"
Headers = Sequence[tuple[str, str]]

MAX_BODY = 64 * 1024 * 1024
"""Bytes of a 2xx answer read at most unless the caller says otherwise: a Pushgateway's
``/api/v1/metrics`` listing of thousands of groups fits; a longer answer fails the request."""
MAX_ERROR_BODY = 4 * 1024
"""Bytes of an error answer read at most, for its message (which quotes :data:`QUOTED`)."""
QUOTED = 300
_CHUNK = 64 * 1024


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
    """The URL without any user info (see :func:`has_user_info`), for messages.

    Never raises, whatever the text: a URL that does not parse is redacted too.
    """
    start, end = _user_info(url)
    return url if end is None else url[:start] + url[end + 1 :]


def has_user_info(url: str) -> bool:
    """Whether ``url`` carries a user or password: an ``@`` before its host.

    A password may hold ``/``, ``#`` or ``?``, where a URL parser takes the host
    to end, so any ``@`` after the scheme counts, except in the ``/NAME@base64/``
    path segments pushrestic builds itself. A URL without a scheme is read from
    its start (``user:password@host``).
    """
    return _user_info(url)[1] is not None


def _user_info(url: str) -> tuple[int, int | None]:
    """Where the user info of ``url`` starts, and the index of the ``@`` ending it (or None)."""
    scheme, separator, _ = url.partition("://")
    is_scheme = scheme.isascii() and scheme[:1].isalpha()
    is_scheme = is_scheme and all(c.isalnum() or c in "+-." for c in scheme)
    start = len(scheme) + len(separator) if separator and is_scheme else 0
    end = None
    at = url.find("@", start)
    while at >= 0:
        slash = url.rfind("/", start, at)
        name = url[slash + 1 : at]
        segment = slash >= 0 and name.isascii() and name.isidentifier()
        if not (segment and url.startswith("@base64/", at)):  # not a path's /NAME@base64/
            end = at
        at = url.find("@", at + 1)
    return start, end


def make_session(settings: TransportSettings) -> requests.Session:
    """A requests Session carrying the auth and TLS settings."""
    import requests

    session = requests.Session()
    adapter = _watched_adapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    session.trust_env = False  # no proxy from the environment: the gateway is addressed directly
    if settings.bearer_token:
        # As UTF-8 bytes, like the basic-auth credentials below: requests would encode
        # a str as Latin-1 and fail on any other character, at the first request.
        session.headers["Authorization"] = f"Bearer {settings.bearer_token}".encode()
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


class Transport(Protocol):
    """What a push sink sends its requests through."""

    def request(
        self,
        method: str,
        url: str,
        *,
        timeout: float | None,
        headers: Headers = (),
        data: bytes | None = None,
    ) -> bytes:
        """Send one request; the body of a 2xx answer. Raises PushError otherwise."""
        ...


class SessionTransport:
    """Requests through one requests Session made from ``settings`` (see :func:`request`)."""

    def __init__(self, settings: TransportSettings) -> None:
        self.session = make_session(settings)

    def request(
        self,
        method: str,
        url: str,
        *,
        timeout: float | None,
        headers: Headers = (),
        data: bytes | None = None,
    ) -> bytes:
        answer = request(self.session, method, url, timeout=timeout, headers=headers, data=data)
        body: bytes = answer.content
        return body


def request(
    session: requests.Session,
    method: str,
    url: str,
    *,
    timeout: float | None,
    headers: Headers = (),
    data: bytes | None = None,
    max_body: int = MAX_BODY,
) -> requests.Response:
    """Send one request and read its answer, all within ``timeout`` seconds (None: no limit).

    Returns the response of a 2xx answer with its body read (``response.content``,
    at most ``max_body`` bytes). Raises PushError (transient or not) on any other
    answer, on a 2xx body longer than ``max_body``, on a connection or TLS fault,
    and when the time is up, whatever the server was doing. The session must come
    from :func:`make_session` for the time limit to cover slow reads too; with
    another session each socket read is limited to ``timeout``, not the whole.
    """
    import requests

    shown = redact_url(url)
    watch = _Watch(timeout)
    try:
        response = session.request(
            method,
            url,
            data=data,
            headers=dict(headers),
            timeout=timeout,
            allow_redirects=False,
            stream=True,
        )
        with response:
            status = response.status_code
            success = 200 <= status < 300
            limit = max_body if success else MAX_ERROR_BODY
            if success and _declared_length(response) > max_body:
                raise _too_large(method, shown, max_body, status)
            body, more = _read_body(response, limit)
            if watch.finish():
                raise requests.exceptions.Timeout
    except requests.exceptions.RequestException as error:
        raise _failure(method, shown, timeout, error, timed_out=watch.finish()) from None
    except OSError as error:  # from the socket, past requests' own handling
        if watch.finish():
            raise _no_answer(method, shown, timeout) from None
        raise PushError(f"{method} {shown}: {_reason(error)}", transient=True) from None
    finally:
        watch.finish()
    if success:
        if more:
            raise _too_large(method, shown, max_body, status)
        response._content = body  # what ``response.content`` gives the caller
        return response
    text = " ".join(_decode(body, response.encoding).split())[:QUOTED]
    message = f"{method} {shown}: HTTP {status}" + (f": {text}" if text else "")
    transient = status >= 500 or status in (408, 429)
    raise PushError(
        message,
        transient=transient,
        status=status,
        retry_after=_retry_after(response.headers.get("Retry-After")),
    )


def _no_answer(method: str, shown: str, timeout: float | None) -> PushError:
    """A timeout, transient; ``timeout`` (the time left of the deadline, often) to 0.1 s."""
    within = "" if timeout is None else f" within {timeout:.1f} s"
    return PushError(f"{method} {shown}: no answer{within}", transient=True)


def _failure(
    method: str, shown: str, timeout: float | None, error: BaseException, *, timed_out: bool
) -> PushError:
    """The PushError for a requests exception; ``timed_out``: the watchdog cut the request off."""
    import requests

    if timed_out or isinstance(error, requests.exceptions.Timeout):
        return _no_answer(method, shown, timeout)
    if isinstance(error, requests.exceptions.SSLError):
        return PushError(f"{method} {shown}: TLS error: {_reason(error)}", transient=False)
    if isinstance(
        error, requests.exceptions.ConnectionError | requests.exceptions.ChunkedEncodingError
    ):
        return PushError(f"{method} {shown}: {_reason(error)}", transient=True)
    if isinstance(error, requests.exceptions.InvalidHeader):  # its message would quote a secret
        return PushError(
            f"{method} {shown}: a header is not valid (a password or token with a line break?)",
            transient=False,
        )
    return PushError(f"{method} {shown}: {_reason(error)}", transient=False)


def _too_large(method: str, shown: str, max_body: int, status: int) -> PushError:
    return PushError(
        f"{method} {shown}: HTTP {status}, but the answer is larger than {max_body} bytes",
        transient=False,
        status=status,
    )


def _declared_length(response: requests.Response) -> int:
    """The Content-Length the server announced, or 0."""
    value = response.headers.get("Content-Length", "").strip()
    return int(value) if value.isdigit() else 0


def _read_body(response: requests.Response, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of the (decoded) body, read in chunks; and whether there was more."""
    buffer = bytearray()
    for chunk in response.iter_content(min(_CHUNK, limit + 1)):
        buffer += chunk
        if len(buffer) > limit:
            return bytes(buffer[:limit]), True
    return bytes(buffer), False


def _decode(body: bytes, encoding: str | None) -> str:
    try:
        return body.decode(encoding or "utf-8", errors="replace")
    except LookupError:  # an encoding Python does not know
        return body.decode("utf-8", errors="replace")


# -- the watchdog -------------------------------------------------------------------

_current = threading.local()  # the watch of the request this thread is making


class _Watch:
    """Cuts one request off when its time is up, by shutting its connection's socket down.

    A timeout on socket reads is renewed by every byte that arrives; shutting the
    socket down ends a blocked read or write at once, in whatever phase (TLS
    handshake, headers, body). The connection is attached by the connection
    classes of :func:`_watched_adapter` as soon as the request uses it.
    """

    def __init__(self, timeout: float | None) -> None:
        self._lock = threading.Lock()
        self._connection: object | None = None
        self._fired = False
        self._finished = False
        self._timer: threading.Timer | None = None
        _current.watch = self
        if timeout is not None and math.isfinite(timeout) and timeout > 0:
            self._timer = threading.Timer(timeout, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def attach(self, connection: object) -> None:
        """The request now uses ``connection``: cut it off when the time is up (or now)."""
        with self._lock:
            if self._finished:
                return
            self._connection = connection
            if self._fired:
                _shut(connection)

    def finish(self) -> bool:
        """Stop watching (idempotent); True if the time ran out before."""
        with self._lock:
            self._finished = True
            if getattr(_current, "watch", None) is self:
                _current.watch = None
            if self._timer is not None:
                self._timer.cancel()
            return self._fired

    def _fire(self) -> None:
        with self._lock:
            if self._finished:
                return
            self._fired = True
            if self._connection is not None:
                _shut(self._connection)


def _attach(connection: object) -> None:
    watch = getattr(_current, "watch", None)
    if isinstance(watch, _Watch):
        watch.attach(connection)


def _shut(connection: object) -> None:
    """Shut the connection's socket down for both directions (not closing it: its owner does)."""
    sock = getattr(connection, "sock", None)
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):  # the plain socket's: no TLS state is touched
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _watched_adapter() -> requests.adapters.HTTPAdapter:
    """A requests adapter whose connections attach themselves to the current request's watch."""
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class Watched(HTTPConnection):
        def connect(self) -> None:
            _attach(self)
            super().connect()

        def request(self, *args: Any, **kwargs: Any) -> None:
            _attach(self)
            super().request(*args, **kwargs)

    class WatchedHTTPConnection(Watched):
        pass

    class WatchedHTTPSConnection(Watched, HTTPSConnection):
        pass

    class WatchedHTTPConnectionPool(HTTPConnectionPool):
        ConnectionCls = WatchedHTTPConnection

    class WatchedHTTPSConnectionPool(HTTPSConnectionPool):
        ConnectionCls = WatchedHTTPSConnection

    class WatchedAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {
                "http": WatchedHTTPConnectionPool,
                "https": WatchedHTTPSConnectionPool,
            }

    return WatchedAdapter()


def send(
    attempt: Callable[[float], object],
    policy: RetryPolicy,
    *,
    what: str = "request",
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Run ``attempt(timeout)`` under ``policy``; re-raise the last PushError when it gives up.

    Each attempt gets ``min(policy.timeout, time left)``; a wait that would end
    past the deadline ends the retries instead. ``sleep`` waits and ``clock``
    (seconds, monotonic) measures the deadline: tests pass fakes.
    """
    import tenacity

    started = clock()

    def remaining() -> float:
        return policy.deadline - (clock() - started)

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
    "MAX_BODY",
    "MAX_ERROR_BODY",
    "USER_AGENT",
    "PushError",
    "RetryPolicy",
    "SessionTransport",
    "Transport",
    "TransportSettings",
    "has_user_info",
    "make_session",
    "redact_url",
    "request",
    "send",
]
