"""The last-success ledger, kept in the spool directory: never backwards, never
from the future."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pushrestic.sinks.pushgateway.spool import Spool


def test_recorded_success_times_only_move_forward(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.ledger.record_success("g", 300.0)
    spool.ledger.record_success("g", 100.0)
    spool.ledger.record_success("g", None)
    assert spool.ledger.last_success("g") == 300.0


def test_a_last_success_from_the_future_is_never_recorded(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.ledger.record_success("g", 100.0)
    spool.ledger.record_success("g", time.time() + 10 * 365 * 86400)
    assert spool.ledger.last_success("g") == 100.0


def test_a_ledger_record_that_is_not_a_regular_file_reads_as_unknown(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.check()
    os.mkfifo(tmp_path / "last-success" / "g")
    assert spool.ledger.last_success("g") is None


def test_a_ledger_record_too_large_to_be_a_time_reads_as_unknown(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.check()
    (tmp_path / "last-success" / "g").write_bytes(b"1" * 1_000_000)
    assert spool.ledger.last_success("g") is None
