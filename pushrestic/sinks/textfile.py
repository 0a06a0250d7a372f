"""The node_exporter textfile format: all groups merged in one exposition.

``render`` gives exactly what a textfile would hold (and what ``--dry-run``
prints): one HELP/TYPE per metric, every series labelled with its location and
backend, no sample timestamps. The text always comes from prometheus_client.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from prometheus_client.exposition import generate_latest

from pushrestic.metrics import build_registry
from pushrestic.model import Run


def render(runs: Sequence[Run], labels: Mapping[str, str] | None = None) -> bytes:
    """The exposition text of ``runs``, all groups merged."""
    return generate_latest(build_registry(runs, labels))
