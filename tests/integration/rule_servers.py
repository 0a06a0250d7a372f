"""Rule evaluation over data written by remote-write, for integration tests.

* :class:`EvaluatingPrometheus` - Prometheus' remote-write receiver (the
  ``PrometheusReceiver`` of :mod:`tests.integration.servers`) that also
  evaluates ``alerting/rules-remote-write.yml`` every second, and accepts
  samples up to three days old (``out_of_order_time_window``, Prometheus 2.39+):
  without it, a sample older than what the receiver already holds is refused
  as out of order.
* :class:`Vmalert` - ``vmalert`` evaluating the same rules every second over a
  :class:`~tests.integration.servers.VictoriaMetrics`, notifying a URL.
* :func:`write_at` - one group's report written by pushrestic's own
  remote-write code, stamped at a time of the test's choosing (a host whose
  last write was 27 hours ago).
* :func:`firing` - the alerts either evaluator holds, as (alertname, labels,
  annotations) of those firing.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pushrestic.collect import InputSpec, collect_runs
from pushrestic.sinks.pushgateway.http import (
    RetryPolicy,
    SessionTransport,
    TransportSettings,
)
from pushrestic.sinks.remote_write import RemoteWrite, render, write_group
from tests.conftest import require_binary
from tests.integration.servers import PrometheusReceiver, Server, VictoriaMetrics, http_get

ALERTING = Path(__file__).parents[2] / "alerting"
RULES = "rules-remote-write.yml"
INTERVAL = "1s"  # rule evaluation
OUT_OF_ORDER_WINDOW = "3d"


class EvaluatingPrometheus(PrometheusReceiver):
    """Prometheus receiving remote-write and evaluating ``alerting/rules-remote-write.yml``."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        super().__init__(workdir, port)
        shutil.copyfile(ALERTING / RULES, workdir / RULES)
        config = {
            "global": {"evaluation_interval": INTERVAL},
            "rule_files": [RULES],
            "storage": {"tsdb": {"out_of_order_time_window": OUT_OF_ORDER_WINDOW}},
        }
        self.config_file.write_text(yaml.safe_dump(config))

    def alerts(self) -> list[dict[str, Any]]:
        """``/api/v1/alerts``: every alert Prometheus holds (pending and firing)."""
        document = json.loads(http_get(f"{self.url}/api/v1/alerts"))
        assert document["status"] == "success", document
        alerts: list[dict[str, Any]] = document["data"]["alerts"]
        return alerts


class Vmalert(Server):
    """``vmalert`` evaluating ``alerting/rules-remote-write.yml`` over ``database``, sending
    notifications to ``notifier`` (an Alertmanager's URL, or anything that takes a POST)."""

    ready_path = "/health"

    def __init__(self, workdir: Path, database: VictoriaMetrics, notifier: str) -> None:
        super().__init__(require_binary("vmalert"), workdir)
        self.rules = workdir / RULES
        shutil.copyfile(ALERTING / RULES, self.rules)
        self.database = database
        self.notifier = notifier

    def listen_arguments(self) -> list[str]:
        return [f"-httpListenAddr=127.0.0.1:{self.port}"]

    def arguments(self) -> list[str]:
        return [
            f"-rule={self.rules}",
            f"-datasource.url={self.database.url}",
            f"-notifier.url={self.notifier}",
            f"-evaluationInterval={INTERVAL}",
        ]

    def alerts(self) -> list[dict[str, Any]]:
        """``/api/v1/alerts``: every alert vmalert holds (pending and firing)."""
        document = json.loads(http_get(f"{self.url}/api/v1/alerts"))
        alerts: list[dict[str, Any]] = document["data"]["alerts"] or []  # null when none
        return alerts


Evaluator = EvaluatingPrometheus | Vmalert


@dataclass(frozen=True, slots=True)
class Alert:
    name: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]

    @property
    def group(self) -> tuple[str, str, str]:
        return (self.labels["instance"], self.labels["location"], self.labels["backend"])


def firing(evaluator: Evaluator) -> list[Alert]:
    """The alerts ``evaluator`` holds in state firing."""
    return [
        Alert(str(alert["labels"]["alertname"]), alert["labels"], alert["annotations"])
        for alert in evaluator.alerts()
        if str(alert["state"]).lower() == "firing"
    ]


def pending_or_firing(evaluator: Evaluator) -> list[str]:
    """Every alert ``evaluator`` holds, pending too, as ``name {labels}`` for messages."""
    return [
        f"{a['labels'].get('alertname')} {a['labels']} {a['state']}" for a in evaluator.alerts()
    ]


def write_at(
    url: str,
    log: Path,
    *,
    instance: str,
    location: str,
    backend: str,
    exit_code: int,
    at: float,
) -> None:
    """The report of ``log`` for one group, written to ``url`` with every sample stamped
    ``at``, through pushrestic's remote-write sink (as ``pushrestic push --remote-write``
    would, had it run then)."""
    spec = InputSpec(str(log), exit_code=exit_code, location=location, backend=backend)
    (run,) = collect_runs(spec).runs
    target = RemoteWrite(url, instance=instance)
    transport = SessionTransport(TransportSettings())
    write_group(
        transport,
        target,
        target.key(location, backend, run.operation),
        render(run),
        RetryPolicy(attempts=1, deadline=10.0),
        at=at,
    )
