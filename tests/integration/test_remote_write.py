"""Remote-write into real databases: VictoriaMetrics and Prometheus' receiver.

Each test runs ``python -m pushrestic`` with ``--remote-write`` and reads back
through the database's query API what arrived; FaultyServer stands in for an
endpoint that fails, refuses or records what it is sent.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import cramjam
import pytest

from pushrestic.sinks.remote_write import ALWAYS, UNKNOWN
from tests.faulty_server import Answer, FaultyServer
from tests.integration.servers import (
    AUTORESTIC_GROUPS,
    AUTORESTIC_LOG,
    FAILURE_LOG,
    QUICK,
    SUCCESS_LOG,
    Exposition,
    PrometheusReceiver,
    Receiver,
    VictoriaMetrics,
    pushrestic,
    sample_log,
    spooled,
)
from tests.unit.sinks.test_remote_write import decode_request

HOST = "host-a"
DAY = 24 * 3600
# Every series the catalogue fills for a backup group (state, type labels included).
FILLED_PER_BACKUP = sum(len(extras) for _, extras in ALWAYS[None])


@pytest.fixture(params=["victoria-metrics", "prometheus"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Receiver]:
    server: Receiver
    if request.param == "victoria-metrics":
        server = VictoriaMetrics(tmp_path / "vm")
    else:
        server = PrometheusReceiver(tmp_path / "prometheus")
    with server:
        yield server


def write(database: Receiver | FaultyServer, spool: Path, *args: str) -> tuple[int, str]:
    url = database.write_url if not isinstance(database, FaultyServer) else database.url
    done = pushrestic("push", *args, "--remote-write", url, "--instance", HOST, spool=spool)
    return done.code, str(done)


def same(database: Receiver, found: float, expected: float) -> bool:
    """Equal values; VictoriaMetrics keeps 15 significant digits (a Unix time with
    microseconds loses its last one)."""
    if isinstance(database, VictoriaMetrics):
        return math.isclose(found, expected, rel_tol=1e-14, abs_tol=0.0)
    return found == expected


def test_the_autorestic_example_arrives_series_for_series_with_exact_values(
    database: Receiver, tmp_path: Path
) -> None:
    log = sample_log(AUTORESTIC_LOG, tmp_path / "logs", time.time() - 60)
    dry = pushrestic("push", "--dry-run", str(log), spool=tmp_path / "spool")
    assert dry.code == 0, dry
    expected = Exposition.parse(dry.stdout).series()
    assert {(dict(k)["location"], dict(k)["backend"]) for _, k in expected} == AUTORESTIC_GROUPS
    code, shown = write(database, tmp_path / "spool", str(log))
    assert code == 0, shown

    arrived = database.series('{job="restic"}', count=len(expected))
    added = {("job", "restic"), ("instance", HOST)}
    for (name, labels), value in expected.items():
        key = (name, labels | added)
        assert key in arrived, f"{name} {dict(labels)} did not arrive"
        assert same(database, arrived[key], value), (name, dict(labels), arrived[key], value)
    unknown = {
        key: value for key, value in arrived.items() if (key[0], key[1] - added) not in expected
    }
    filled = {name for name, _ in ALWAYS[None]}
    assert unknown, "a log without -v leaves series unknown: they must be written as -1"
    assert all(value == UNKNOWN and name in filled for (name, _), value in unknown.items())
    assert len(arrived) == len(expected) + len(unknown)
    assert all(dict(labels)["instance"] == HOST for _, labels in arrived)


def test_a_log_27_hours_old_is_accepted_with_its_times_in_the_values(
    database: Receiver, tmp_path: Path
) -> None:
    ended = time.time() - 27 * 3600
    log = sample_log(SUCCESS_LOG, tmp_path / "logs", ended)
    before = time.time()
    code, shown = write(database, tmp_path / "spool", str(log))
    assert code == 0, shown

    ((_, last_run),) = database.wait_for("restic_backup_last_run_timestamp_seconds")
    ((_, last_success),) = database.wait_for("restic_backup_last_success_timestamp_seconds")
    assert same(database, last_run, ended)
    assert same(database, last_success, ended)
    ((_, stamped),) = database.wait_for("timestamp(restic_backup_success)")
    assert before - 1 <= stamped <= time.time() + 1  # stamped when delivered, not when run


def test_an_outage_is_spooled_and_replayed_into_the_database_later(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    log = sample_log(AUTORESTIC_LOG, tmp_path / "logs", time.time() - 60)
    database = VictoriaMetrics(tmp_path / "vm")
    code, shown = write(database, spool, str(log), *QUICK)  # not started: nothing listens
    assert code == 75, shown
    assert len(spooled(spool)) == 4
    assert "kept in" in shown

    with database:
        stamp_before = time.time()
        done = pushrestic("flush", "--remote-write", database.write_url, *QUICK, spool=spool)
        assert done.code == 0, done
        assert done.stdout.count("delivered ") == 4, done
        assert spooled(spool) == []
        groups = database.wait_for('restic_backup_success{job="restic"}', count=4)
        assert {(labels["location"], labels["backend"]) for labels, _ in groups} == (
            AUTORESTIC_GROUPS
        )
        stamps = database.wait_for("timestamp(restic_backup_success)", count=4)
        assert all(value >= stamp_before - 1 for _, value in stamps)  # stamped at replay


def test_a_503_is_spooled_and_the_report_is_adopted_by_a_real_database(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    log = sample_log(SUCCESS_LOG, tmp_path / "logs", time.time() - 60)
    with FaultyServer() as faulty:
        faulty.script(then=Answer(503, "overloaded"))
        code, shown = write(faulty, spool, str(log), *QUICK)
        assert code == 75, shown
        assert "HTTP 503" in shown, shown
        assert faulty.pushes("POST"), "nothing was sent"
    assert len(spooled(spool)) == 1

    with PrometheusReceiver(tmp_path / "prometheus") as database:
        done = pushrestic(
            "flush", "--remote-write", database.write_url, "--adopt", *QUICK, spool=spool
        )
        assert done.code == 0, done
        ((labels, value),) = database.wait_for("restic_backup_success")
        assert value == 1
        assert labels["instance"] == HOST
        assert labels["job"] == "restic"
    assert spooled(spool) == []


def test_a_permanent_rejection_is_set_aside_and_never_retried(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    log = sample_log(SUCCESS_LOG, tmp_path / "logs", time.time() - 60)
    with FaultyServer() as faulty:
        faulty.script(then=Answer(400, "out of order sample"))
        code, shown = write(faulty, spool, str(log), *QUICK)
        assert code == 75, shown
        assert "remote-write endpoint refused" in shown
        assert "out of order sample" in shown
        assert len(faulty.pushes("POST")) == 1  # a 400 is not retried
        rejected = list((spool / "rejected").glob("*.json"))
        assert len(rejected) == 1
        assert spooled(spool) == []

        faulty.healthy()
        again = pushrestic("flush", "--remote-write", faulty.url, *QUICK, spool=spool)
        assert again.code == 0, again
        assert len(faulty.pushes("POST")) == 1  # flush lists it, does not send it
        assert "refused default/default" in again.stdout, again
    listing = pushrestic("spool", spool=spool)
    assert "refused  default/default" in listing.stdout, listing


def test_auth_and_tenant_headers_arrive_with_the_protocol_headers(tmp_path: Path) -> None:
    password = tmp_path / "password"
    password.write_text("s3cret\n")
    password.chmod(0o600)
    log = sample_log(SUCCESS_LOG, tmp_path / "logs", time.time() - 60)
    with FaultyServer() as faulty:
        faulty.script(then=Answer(204))
        code, shown = write(
            faulty,
            tmp_path / "spool",
            str(log),
            "--basic-auth-user",
            "backup",
            "--password-file",
            str(password),
            "--remote-write-header",
            "X-Scope-OrgID: tenant-1",
            "--grouping-label",
            "site=paris",
        )
        assert code == 0, shown
        (request,) = faulty.pushes("POST")
    assert request.path == "/"
    assert request.header("Authorization") == "Basic YmFja3VwOnMzY3JldA=="  # backup:s3cret
    assert request.header("X-Scope-OrgID") == "tenant-1"
    assert request.header("Content-Encoding") == "snappy"
    assert request.header("Content-Type") == "application/x-protobuf"
    assert request.header("X-Prometheus-Remote-Write-Version") == "0.1.0"
    assert (request.header("User-Agent") or "").startswith("pushrestic/")
    series = decode_request(bytes(cramjam.snappy.decompress_raw(request.body)))
    success = [labels for labels, _, _ in series if labels["__name__"] == "restic_backup_success"]
    assert success == [
        {
            "__name__": "restic_backup_success",
            "backend": "default",
            "instance": HOST,
            "job": "restic",
            "location": "default",
            "site": "paris",
        }
    ]


def test_a_partial_run_then_a_failure_of_unknown_code_reads_failed_not_partial(
    database: Receiver, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    now = time.time()
    partial = sample_log(SUCCESS_LOG, tmp_path / "logs", now - 120)
    code, shown = write(database, spool, str(partial), "--exit-code", "3")
    assert code == 0, shown
    database.wait_for("restic_backup_exit_code == 3")
    failed = sample_log(FAILURE_LOG, tmp_path / "logs", now - 60)
    code, shown = write(database, spool, str(failed))  # Fatal: no exit code known
    assert code == 0, shown

    latest = "last_over_time({name}[1d])"
    exit_code = latest.format(name="restic_backup_exit_code")
    ((_, value),) = database.wait_for(f"{exit_code} == {UNKNOWN}")
    assert value == UNKNOWN
    labels = "job, instance, location, backend"
    is_failed = (
        f"{latest.format(name='restic_backup_success')} == 0 unless on ({labels}) {exit_code} == 3"
    )
    ((failed_labels, _),) = database.query(is_failed)
    assert failed_labels["instance"] == HOST
    assert database.query(f"{exit_code} == 3") == []  # not Partial
    # The figures of the partial run are not read as the failed run's.
    assert database.query(f"{latest.format(name='restic_backup_added_bytes')} >= 0") == []


def test_with_a_gateway_too_both_get_the_report_and_a_failing_one_alone_is_spooled(
    tmp_path: Path,
) -> None:
    spool = tmp_path / "spool"
    log = sample_log(SUCCESS_LOG, tmp_path / "logs", time.time() - 60)
    with FaultyServer() as gateway, FaultyServer() as remote:
        remote.script(then=Answer(204))
        both = ("--gateway", gateway.url, "--remote-write", remote.url, "--instance", HOST)
        done = pushrestic("push", str(log), *both, *QUICK, spool=spool)
        assert done.code == 0, done
        assert len(gateway.pushes("PUT")) == 1
        assert len(remote.pushes("POST")) == 1

        remote.script(then=Answer(503))
        done = pushrestic("push", str(log), *both, *QUICK, spool=spool)
        assert done.code == 75, done
        assert len(gateway.pushes("PUT")) == 2  # the gateway's delivery is not held up
        (entry,) = spooled(spool)
        assert '"sink": "remote-write"' in entry.read_text()

        remote.script(then=Answer(204))
        done = pushrestic("flush", *both, *QUICK, spool=spool)
        assert done.code == 0, done
        assert spooled(spool) == []
        assert len(gateway.pushes("PUT")) == 2  # flush sent the gateway nothing twice
