"""The textfile rendering: what node_exporter reads, as prometheus_client writes it."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from pushrestic.model import ExitCodeSource, Outcome, ResticOutput, Run
from pushrestic.sinks.textfile import render


def test_rendering_has_no_sample_timestamps_and_one_type_line_per_metric() -> None:
    runs = [
        Run("a", "local", Outcome(0, ExitCodeSource.GIVEN), ResticOutput(), 10.0),
        Run("b", "usb", Outcome(1, ExitCodeSource.GIVEN), ResticOutput(), 20.0),
    ]
    text = render(runs).decode()
    families = list(text_string_to_metric_families(text))
    assert len({f.name for f in families}) == len(families)
    assert all(s.timestamp is None for f in families for s in f.samples)
    assert text.count("# TYPE restic_backup_success gauge\n") == 1


def test_rendering_nothing_gives_an_empty_exposition() -> None:
    assert render([]) == b""
