"""A real HTTP server on 127.0.0.1 whose answers are scripted, for faults a Pushgateway cannot show.

:class:`FaultyServer` listens on a free port in a thread and records every
request (method, path, headers, body, arrival time). What it does with a
request comes from its script: a queue of actions consumed one per request,
then one action repeated for ever. An action is one of

* :class:`Answer` - a status, a body and headers (a 2xx to ``GET /api/v1/metrics``
  gets an empty Pushgateway API answer, so the server can stand in for a healthy
  gateway);
* :class:`Reset` - read the request, then close the socket with ``SO_LINGER`` 0,
  so the client sees a connection reset and no answer;
* :class:`Hang` - read the request and never answer, until the server closes;
* :class:`Dribble` - answer one byte at a time, slowly enough to outlast any
  patience but quickly enough that no single socket read ever times out: in the
  headers (a header line that never ends) or in the body;
* :class:`Huge` - answer with a body of hundreds of MB, made on the fly (the
  server never holds it), as fast as the client reads.

Everything is bounded: :meth:`FaultyServer.close` (and leaving the ``with``
block) releases every hung or dribbling request, a hung request gives up by
itself after :data:`HANG_LIMIT` seconds, a dribble after its ``limit``, and a
huge answer stops when the client goes away.
"""

from __future__ import annotations

import http.server
import json
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal

HANG_LIMIT = 30.0
PUSHGATEWAY_INVALID = (
    "pushed metrics are invalid or inconsistent with existing metrics: collected metric "
    '"restic_backup_files" { label:{name:"location" value:"docs"} gauge:{value:3}} '
    "was collected before with the same name and label values"
)


@dataclass(frozen=True, slots=True)
class Answer:
    """Answer with ``status``, ``body`` and ``headers``."""

    status: int = 202
    body: str = ""
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Reset:
    """Close the connection without answering (the client sees a reset)."""


@dataclass(frozen=True, slots=True)
class Hang:
    """Never answer, until the server closes (or :data:`HANG_LIMIT` passes)."""


@dataclass(frozen=True, slots=True)
class Dribble:
    """Answer ``status`` one byte every ``interval`` seconds, for ``limit`` seconds at most.

    ``part="headers"``: the status line, then a header line that never ends.
    ``part="body"``: whole headers announcing ``size`` bytes, then the body byte by byte.
    """

    part: Literal["headers", "body"] = "headers"
    status: int = 200
    interval: float = 0.2
    size: int = 1_000_000
    limit: float = 90.0


@dataclass(frozen=True, slots=True)
class Huge:
    """Answer ``status`` with ``size`` bytes of body made on the fly, as fast as it is read."""

    status: int = 400
    size: int = 400 * 1024 * 1024
    announced: bool = True  # False: no Content-Length, the body ends when the connection does


Action = Answer | Reset | Hang | Dribble | Huge
OK = Answer(202)


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request as it arrived; ``arrived`` is ``time.monotonic()`` on arrival."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    arrived: float
    action: Action

    def header(self, name: str) -> str | None:
        """A header's value, whatever the case of its name."""
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass(slots=True)
class _Script:
    queue: deque[Action] = field(default_factory=deque)
    then: Action = OK
    only: frozenset[str] | None = None


class FaultyServer:
    """A scripted HTTP server on ``127.0.0.1``; use it as a context manager."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._script = _Script()
        self._released = threading.Event()
        self.requests: list[Recorded] = []
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FaultyServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release every hung request and stop serving."""
        self._released.set()
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()

    def script(
        self, *actions: Action, then: Action = OK, only: Iterable[str] | None = None
    ) -> None:
        """Do ``actions`` for the next requests, one each, then ``then`` for every later one.

        With ``only`` (methods), other methods are answered as a healthy gateway would.
        """
        with self._lock:
            self._script = _Script(
                deque(actions), then, frozenset(m.upper() for m in only) if only else None
            )

    def healthy(self) -> None:
        """From now on answer every request like a healthy Pushgateway."""
        self.script()

    def pushes(self, method: str = "PUT") -> list[Recorded]:
        """The requests of one method, in order of arrival."""
        return [r for r in self.requests if r.method == method]

    def _next(self, method: str) -> Action:
        with self._lock:
            script = self._script
            if script.only is not None and method not in script.only:
                return OK
            return script.queue.popleft() if script.queue else script.then

    def _record(self, entry: Recorded) -> None:
        with self._lock:
            self.requests.append(entry)

    def _hang(self) -> None:
        self._released.wait(HANG_LIMIT)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: FaultyServer

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients that give up are expected here: stay quiet."""


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """No access log on stderr."""

    def do_GET(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        arrived = time.monotonic()
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        action = owner._next(self.command)
        owner._record(
            Recorded(self.command, self.path, dict(self.headers.items()), body, arrived, action)
        )
        if isinstance(action, Reset):
            self._reset()
        elif isinstance(action, Hang):
            owner._hang()
            self.close_connection = True
        elif isinstance(action, Dribble):
            self._dribble(action)
        elif isinstance(action, Huge):
            self._huge(action)
        else:
            self._answer(action)

    def _answer(self, answer: Answer) -> None:
        body = answer.body
        api = self.command == "GET" and self.path.startswith("/api/v1/metrics")
        if api and 200 <= answer.status < 300 and not body:
            body = json.dumps({"status": "success", "data": []})
        data = body.encode()
        self.send_response(answer.status)
        for name, value in answer.headers:
            self.send_header(name, value)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _dribble(self, dribble: Dribble) -> None:
        """Send the answer a byte per ``interval`` until the limit, the client or close ends it."""
        self.close_connection = True
        status = f"HTTP/1.1 {dribble.status} Dribbling\r\n".encode()
        if dribble.part == "headers":
            slow = status + b"X-Dribble: " + b"a" * 1_000_000
        else:
            self._send_raw(
                status
                + b"Content-Type: text/plain; charset=utf-8\r\n"
                + f"Content-Length: {dribble.size}\r\n\r\n".encode()
            )
            slow = b"a" * dribble.size
        released = self.server.owner._released
        give_up = time.monotonic() + dribble.limit
        for index in range(len(slow)):
            if not self._send_raw(slow[index : index + 1]):
                return
            if released.wait(dribble.interval) or time.monotonic() > give_up:
                return

    def _huge(self, huge: Huge) -> None:
        """Send ``huge.size`` bytes of body in 64 KiB pieces, until the client stops reading."""
        self.close_connection = True
        self.connection.settimeout(HANG_LIMIT)  # a client that neither reads nor closes
        released = self.server.owner._released
        length = f"Content-Length: {huge.size}" if huge.announced else "Connection: close"
        if not self._send_raw(
            f"HTTP/1.1 {huge.status} Huge\r\n".encode()
            + b"Content-Type: text/plain; charset=utf-8\r\n"
            + f"{length}\r\n\r\n".encode()
        ):
            return
        piece = b"too much " * (64 * 1024 // 9)
        left = huge.size
        while left > 0 and not released.is_set():
            if not self._send_raw(piece[:left]):
                return
            left -= min(left, len(piece))

    def _send_raw(self, data: bytes) -> bool:
        """Write ``data`` as is; False when the client has gone away."""
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            return False
        return True

    def _reset(self) -> None:
        """Close the socket at once with SO_LINGER 0: the peer gets a RST, not an answer."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.rfile.close()  # the makefile reference would otherwise defer the real close
        self.wfile.close()
        self.connection.close()
