"""A real alerting chain for integration tests: Prometheus, Alertmanager, a webhook.

* :class:`Prometheus` - ``prometheus`` on a free loopback port with a config
  generated from the repository's ``alerting/prometheus.yml`` (one-second
  scrape and evaluation intervals, scraping only the test's Pushgateway,
  loading a copy of ``alerting/rules.yml``, alerting only the test's
  Alertmanager).
* :class:`Alertmanager` - ``prometheus-alertmanager`` on a free loopback port
  with the routing of ``alerting/alertmanager.yml`` (one-second group waits),
  every receiver turned into a webhook to the test's :class:`WebhookReceiver`,
  and no cluster gossip.
* :class:`WebhookReceiver` - an HTTP server in a thread that keeps every
  notification Alertmanager posts, and waits (with a bound) for the one a test
  expects.

All of them are :class:`tests.integration.servers.Server`-style context
managers: ``start()`` returns once the server answers, ``stop()`` ends it.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import yaml

from tests.conftest import require_binary
from tests.integration.servers import Server, http_get

ALERTING = Path(__file__).parents[2] / "alerting"
INTERVAL = "1s"  # scrape, evaluation and Alertmanager grouping intervals
REPEAT_INTERVAL = "24h"  # no repeated notification within a test


# -- Prometheus ---------------------------------------------------------------


def prometheus_config(gateway: str, alertmanager: str) -> dict[str, Any]:
    """``alerting/prometheus.yml`` pointed at the test's servers (``host:port`` each).

    The repository's scrape job for the Pushgateway is kept as it is (its name,
    ``honor_labels``); only its target, the Alertmanager's address and the
    intervals change.
    """
    config: dict[str, Any] = yaml.safe_load((ALERTING / "prometheus.yml").read_text())
    config["global"].update(scrape_interval=INTERVAL, evaluation_interval=INTERVAL)
    assert config["rule_files"] == ["rules.yml"], config["rule_files"]
    (manager,) = config["alerting"]["alertmanagers"]
    manager["static_configs"] = [{"targets": [alertmanager]}]
    (job,) = config["scrape_configs"]
    job["static_configs"] = [{"targets": [gateway]}]
    return config


class Prometheus(Server):
    """``prometheus`` scraping ``gateway`` and alerting ``alertmanager`` (``host:port``)."""

    ready_path = "/-/ready"

    def __init__(self, workdir: Path, gateway: str, alertmanager: str) -> None:
        super().__init__(require_binary("prometheus"), workdir)
        self.config_file = workdir / "prometheus.yml"
        self.config_file.write_text(yaml.safe_dump(prometheus_config(gateway, alertmanager)))
        shutil.copyfile(ALERTING / "rules.yml", workdir / "rules.yml")

    def arguments(self) -> list[str]:
        return [
            f"--config.file={self.config_file}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            # An alert that fired before the Alertmanager was found is sent again a
            # second later, not a minute later.
            "--rules.alert.resend-delay=1s",
        ]

    def api(self, path: str) -> Any:
        """The ``data`` of a successful ``GET /api/v1/PATH``."""
        document = json.loads(http_get(f"{self.url}/api/v1/{path}"))
        assert document["status"] == "success", document
        return document["data"]

    def active_alerts(self) -> list[dict[str, Any]]:
        """The alerts Prometheus holds now (pending and firing)."""
        alerts: list[dict[str, Any]] = self.api("alerts")["alerts"]
        return alerts


# -- Alertmanager -------------------------------------------------------------


def alertmanager_config(receiver_url: str) -> dict[str, Any]:
    """``alerting/alertmanager.yml`` with its routing tree and inhibitions kept, one-second
    grouping, and each receiver a webhook to ``receiver_url/NAME``: a notification's path
    (and its ``receiver`` field) tells which route it took."""
    config: dict[str, Any] = yaml.safe_load((ALERTING / "alertmanager.yml").read_text())
    config["route"].update(
        group_wait=INTERVAL, group_interval=INTERVAL, repeat_interval=REPEAT_INTERVAL
    )
    config["receivers"] = [
        {
            "name": receiver["name"],
            "webhook_configs": [
                {"url": f"{receiver_url}/{receiver['name']}", "send_resolved": True}
            ],
        }
        for receiver in config["receivers"]
    ]
    return config


class Alertmanager(Server):
    """``prometheus-alertmanager`` notifying ``receiver_url``, without cluster gossip."""

    ready_path = "/-/ready"

    def __init__(self, workdir: Path, receiver_url: str) -> None:
        super().__init__(require_binary("prometheus-alertmanager"), workdir)
        self.config_file = workdir / "alertmanager.yml"
        self.config_file.write_text(yaml.safe_dump(alertmanager_config(receiver_url)))

    def arguments(self) -> list[str]:
        return [
            f"--config.file={self.config_file}",
            f"--storage.path={self.workdir / 'data'}",
            "--cluster.listen-address=",
        ]

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert the Alertmanager has received and still holds (``/api/v2/alerts``)."""
        alerts: list[dict[str, Any]] = json.loads(http_get(self.url + "/api/v2/alerts"))
        return alerts


# -- the webhook receiver -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Notification:
    """One webhook call: the path it was posted to and its JSON body."""

    path: str
    payload: dict[str, Any]

    @property
    def receiver(self) -> str:
        return str(self.payload["receiver"])

    @property
    def alerts(self) -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = self.payload["alerts"]
        return alerts


@dataclass(frozen=True, slots=True)
class Received:
    """One alert as a notification carried it, with the receiver it was routed to."""

    receiver: str
    alert: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.alert["labels"]["alertname"])

    @property
    def labels(self) -> dict[str, str]:
        labels: dict[str, str] = self.alert["labels"]
        return labels

    @property
    def annotations(self) -> dict[str, str]:
        annotations: dict[str, str] = self.alert["annotations"]
        return annotations

    @property
    def status(self) -> str:
        return str(self.alert["status"])


class WebhookReceiver:
    """An HTTP server on a free loopback port that records what Alertmanager posts."""

    def __init__(self) -> None:
        self._notifications: list[Notification] = []
        self._changed = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "the receiver is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                payload = json.loads(self.rfile.read(length))
                receiver._record(Notification(self.path, payload))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _record(self, notification: Notification) -> None:
        with self._changed:
            self._notifications.append(notification)
            self._changed.notify_all()

    def notifications(self) -> list[Notification]:
        with self._changed:
            return list(self._notifications)

    def received(self) -> list[Received]:
        """Every alert of every notification so far, in arrival order."""
        return [
            Received(notification.receiver, alert)
            for notification in self.notifications()
            for alert in notification.alerts
        ]

    def wait_for(
        self, matches: Callable[[Received], bool], timeout: float, what: str
    ) -> list[Received]:
        """The alerts received so far once one of them ``matches``; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [
                    Received(n.receiver, alert) for n in self._notifications for alert in n.alerts
                ]
                if any(matches(alert) for alert in found):
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    summary = [(r.receiver, r.name, r.labels, r.status) for r in found]
                    raise AssertionError(f"no {what} within {timeout} s; received: {summary}")
                self._changed.wait(timeout=left)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
