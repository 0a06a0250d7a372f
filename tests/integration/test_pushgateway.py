"""pushrestic against a real Pushgateway: every claim is read back from the gateway itself."""

from __future__ import annotations

import datetime
import json
import re
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pushrestic import __version__
from tests.cli import Ran
from tests.integration.servers import (
    AUTORESTIC_GROUPS,
    AUTORESTIC_LOG,
    FAILURE_LOG,
    QUICK,
    SUCCESS_LOG,
    Pushgateway,
    free_port,
    pushrestic,
    sample_log,
    spooled,
)

pytestmark = pytest.mark.integration

T1 = 1_760_000_000.25  # the times the runs ended (their logs' mtimes)
T2 = T1 + 3600
T3 = T1 + 2 * 3600
T4 = T1 + 3 * 3600
SUCCESS = "restic_backup_success"
EXIT_CODE = "restic_backup_exit_code"
LAST_RUN = "restic_backup_last_run_timestamp_seconds"
LAST_SUCCESS = "restic_backup_last_success_timestamp_seconds"
# Series the gateway adds to every group; their values change with every push.
GATEWAY_SERIES = ("push_time_seconds", "push_failure_time_seconds")
DEFAULT = {"job": "restic", "instance": "host", "location": "default", "backend": "default"}


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    return tmp_path / "logs"


def push(gateway_url: str, log: Path, *args: str, spool: Path, instance: str = "host") -> Ran:
    return pushrestic(
        "push", "--gateway", gateway_url, "--instance", instance, *args, str(log), spool=spool
    )


def push_ok(
    gateway: Pushgateway, log: Path, *args: str, spool: Path, instance: str = "host"
) -> None:
    done = push(gateway.url, log, *args, spool=spool, instance=instance)
    assert done.code == 0, done


# -- one group per (location, backend) ----------------------------------------


def test_a_run_replaces_everything_its_group_held_before(
    gateway: Pushgateway, spool: Path, logs: Path
) -> None:
    push_ok(gateway, sample_log(SUCCESS_LOG, logs, T1), spool=spool)
    before = gateway.pushed()
    assert before.value(SUCCESS, **DEFAULT) == 1
    assert before.value("restic_backup_files", state="new", **DEFAULT) == 17
    assert "restic_backup_added_bytes" in before.names(**DEFAULT)

    push_ok(gateway, sample_log(FAILURE_LOG, logs, T2), "--exit-code", "1", spool=spool)

    after = gateway.pushed()
    assert after.value(SUCCESS, **DEFAULT) == 0
    assert after.value(EXIT_CODE, **DEFAULT) == 1
    assert after.value(LAST_RUN, **DEFAULT) == T2
    assert after.names(**DEFAULT) == {
        *GATEWAY_SERIES,
        SUCCESS,
        EXIT_CODE,
        LAST_RUN,
        LAST_SUCCESS,
        "pushrestic_build_info",
    }
    assert after.find("restic_backup_files") == []
    assert after.find("restic_backup_info") == []


def test_one_location_or_backend_never_removes_anothers(
    gateway: Pushgateway, spool: Path, logs: Path
) -> None:
    push_ok(gateway, sample_log(AUTORESTIC_LOG, logs, T1), spool=spool)
    before = gateway.pushed()
    assert before.groups() == AUTORESTIC_GROUPS

    failed = sample_log(FAILURE_LOG, logs, T2)
    push_ok(
        gateway,
        failed,
        "--location",
        "documents",
        "--backend",
        "local",
        "--exit-code",
        "1",
        spool=spool,
    )

    after = gateway.pushed()
    assert after.groups() == AUTORESTIC_GROUPS
    for location, backend in AUTORESTIC_GROUPS - {("documents", "local")}:
        group = {"location": location, "backend": backend}
        assert after.where(**group).series(without=GATEWAY_SERIES) == before.where(**group).series(
            without=GATEWAY_SERIES
        ), group
    assert after.value(SUCCESS, location="documents", backend="local") == 0
    assert after.value(SUCCESS, location="documents", backend="usb") == 1


def test_two_hosts_with_the_same_location_never_collide(
    gateway: Pushgateway, spool: Path, logs: Path
) -> None:
    push_ok(gateway, sample_log(SUCCESS_LOG, logs, T1), spool=spool / "a", instance="a")
    push_ok(
        gateway,
        sample_log(FAILURE_LOG, logs, T2),
        "--exit-code",
        "1",
        spool=spool / "b",
        instance="b",
    )

    pushed = gateway.pushed()
    assert pushed.groups("instance", "location", "backend") == {
        ("a", "default", "default"),
        ("b", "default", "default"),
    }
    assert pushed.value(SUCCESS, instance="a") == 1
    assert pushed.value(LAST_SUCCESS, instance="a") == T1
    assert pushed.value(SUCCESS, instance="b") == 0
    assert pushed.value(LAST_SUCCESS, instance="b") is None
    assert pushed.value("restic_backup_files", instance="a", state="new") == 17


# -- the last success time ----------------------------------------------------


def test_a_failed_run_keeps_the_last_success_time_and_reports_its_exit_code(
    gateway: Pushgateway, spool: Path, logs: Path
) -> None:
    push_ok(gateway, sample_log(SUCCESS_LOG, logs, T1), spool=spool)
    push_ok(gateway, sample_log(FAILURE_LOG, logs, T2), "--exit-code", "1", spool=spool)

    pushed = gateway.pushed()
    assert pushed.value(LAST_SUCCESS, **DEFAULT) == T1
    assert pushed.value(SUCCESS, **DEFAULT) == 0
    assert pushed.value(EXIT_CODE, **DEFAULT) == 1
    assert pushed.value(LAST_RUN, **DEFAULT) == T2


def test_a_failed_run_without_local_state_takes_the_last_success_time_from_the_gateway(
    gateway: Pushgateway, tmp_path: Path, logs: Path
) -> None:
    push_ok(gateway, sample_log(SUCCESS_LOG, logs, T1), spool=tmp_path / "first-spool")
    fresh = tmp_path / "fresh-spool"
    push_ok(gateway, sample_log(FAILURE_LOG, logs, T2), "--exit-code", "1", spool=fresh)

    pushed = gateway.pushed()
    assert pushed.value(LAST_SUCCESS, **DEFAULT) == T1
    assert pushed.value(SUCCESS, **DEFAULT) == 0
    assert pushed.value(EXIT_CODE, **DEFAULT) == 1


def test_an_older_log_pushed_later_never_moves_the_last_success_time_back(
    gateway: Pushgateway, spool: Path, logs: Path
) -> None:
    push_ok(gateway, sample_log(SUCCESS_LOG, logs, T3), spool=spool)
    push_ok(gateway, sample_log(SUCCESS_LOG, logs, T1), spool=spool)

    pushed = gateway.pushed()
    assert pushed.value(LAST_RUN, **DEFAULT) == T1
    assert pushed.value(LAST_SUCCESS, **DEFAULT) == T3


# -- grouping values ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Grouping:
    """One group's key as given on the command line (``label`` is a --grouping-label)."""

    location: str
    backend: str
    instance: str
    label: str

    def arguments(self) -> list[str]:
        """The flags of the key, but --instance (a flag of its own in ``push_ok``)."""
        return [
            "--location",
            self.location,
            "--backend",
            self.backend,
            "--grouping-label",
            self.label,
        ]

    def labels(self) -> dict[str, str]:
        """The group's labels as the gateway should hold them."""
        name, _, value = self.label.partition("=")
        return {
            "job": "restic",
            "instance": self.instance,
            name: value,
            "location": self.location,
            "backend": self.backend,
        }


GROUPINGS = [
    pytest.param(
        Grouping("srv/data files", "b2@eu-central", "host-1", "site=rack 1/a"), id="slash-space-at"
    ),
    pytest.param(Grouping("é", "日本", "", "site=é"), id="non-ascii-empty-instance"),
    pytest.param(Grouping("a@b", "x y", "web 1/ü", "owner=日本/@ x"), id="all-in-the-instance"),
    pytest.param(Grouping("plain", "plain", "=", "site=a=b"), id="equals-signs"),
]


@pytest.mark.parametrize("grouping", GROUPINGS)
def test_grouping_values_arrive_as_the_exact_label_values(
    gateway: Pushgateway, tmp_path: Path, logs: Path, grouping: Grouping
) -> None:
    args = grouping.arguments()
    labels = grouping.labels()

    push_ok(
        gateway,
        sample_log(SUCCESS_LOG, logs, T1),
        *args,
        spool=tmp_path / "s1",
        instance=grouping.instance,
    )
    assert gateway.group_labels() == [labels]
    assert gateway.pushed().value(SUCCESS, **labels) == 1
    # A failure with no local state finds this very group on the gateway.
    push_ok(
        gateway,
        sample_log(FAILURE_LOG, logs, T2),
        *args,
        "--exit-code",
        "1",
        spool=tmp_path / "s2",
        instance=grouping.instance,
    )
    pushed = gateway.pushed()
    assert pushed.value(SUCCESS, **labels) == 0
    assert pushed.value(LAST_SUCCESS, **labels) == T1
    assert gateway.group_labels() == [labels]

    done = pushrestic(
        "delete",
        "--gateway",
        gateway.url,
        "--instance",
        grouping.instance,
        *args,
        spool=tmp_path / "s2",
    )
    assert done.code == 0, done
    assert gateway.group_labels() == []


# -- groups and delete --------------------------------------------------------


def test_groups_lists_this_jobs_groups_with_their_push_time(
    gateway: Pushgateway, spool: Path, logs: Path
) -> None:
    started = time.time()
    push_ok(gateway, sample_log(AUTORESTIC_LOG, logs, T1), spool=spool)
    elsewhere = sample_log(SUCCESS_LOG, logs, T1)
    push_ok(gateway, elsewhere, "--job", "other", "--location", "elsewhere", spool=spool)
    ended = time.time()

    done = pushrestic("groups", "--gateway", gateway.url, spool=spool)

    assert done.code == 0, done
    rows = done.stdout.splitlines()
    assert len(rows) == len(AUTORESTIC_GROUPS), done
    shown = set()
    for row in rows:
        match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)  (.+)", row)
        assert match is not None, row
        pushed_at = datetime.datetime.strptime(match[1], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.UTC
        )
        assert int(started) - 1 <= pushed_at.timestamp() <= ended + 1, row
        labels = dict(re.findall(r"(\w+)='([^']*)'", match[2]))
        assert labels["instance"] == "host", row
        shown.add((labels["location"], labels["backend"]))
    assert shown == AUTORESTIC_GROUPS


def test_delete_removes_exactly_one_group(gateway: Pushgateway, spool: Path, logs: Path) -> None:
    push_ok(gateway, sample_log(AUTORESTIC_LOG, logs, T1), spool=spool)
    push_ok(gateway, sample_log(AUTORESTIC_LOG, logs, T1), spool=spool, instance="other-host")
    push_ok(
        gateway,
        sample_log(SUCCESS_LOG, logs, T1),
        "--job",
        "other",
        "--location",
        "documents",
        "--backend",
        "usb",
        spool=spool,
    )
    before = gateway.pushed()

    done = pushrestic(
        "delete",
        "--gateway",
        gateway.url,
        "--instance",
        "host",
        "--location",
        "documents",
        "--backend",
        "usb",
        spool=spool,
    )

    assert done.code == 0, done
    after = gateway.pushed()
    assert after.groups("instance", "location", "backend") == {
        ("host", "documents", "local"),
        ("host", "config", "local"),
        ("host", "mixed", "local"),
        *(("other-host", location, backend) for location, backend in AUTORESTIC_GROUPS),
    }
    for group in after.groups("instance", "location", "backend"):
        labels = dict(zip(("instance", "location", "backend"), group, strict=True))
        assert after.where(**labels).series() == before.where(**labels).series(), group
    assert gateway.pushed(job="other").groups() == {("documents", "usb")}


# -- a gateway that goes away -------------------------------------------------


def test_a_report_spooled_while_the_gateway_was_down_is_flushed_after_its_restart(
    gateway: Pushgateway, spool: Path, logs: Path
) -> None:
    push_ok(gateway, sample_log(SUCCESS_LOG, logs, T1), spool=spool)
    gateway.stop()

    down = push(gateway.url, sample_log(SUCCESS_LOG, logs, T3), *QUICK, spool=spool)
    assert down.code == 75, down
    [entry] = spooled(spool)
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert stat.S_IMODE(spool.stat().st_mode) == 0o700
    down = push(
        gateway.url, sample_log(FAILURE_LOG, logs, T4), "--exit-code", "1", *QUICK, spool=spool
    )
    assert down.code == 75, down
    assert spooled(spool) == [entry]  # the latest state replaced the earlier one

    gateway.start()
    assert gateway.pushed().value(LAST_SUCCESS, **DEFAULT) == T1  # persisted across the restart
    flushed = pushrestic("flush", "--gateway", gateway.url, spool=spool)

    assert flushed.code == 0, flushed
    assert "default/default" in flushed.stdout
    assert spooled(spool) == []
    pushed = gateway.pushed()
    assert pushed.value(SUCCESS, **DEFAULT) == 0
    assert pushed.value(EXIT_CODE, **DEFAULT) == 1
    assert pushed.value(LAST_RUN, **DEFAULT) == T4
    assert pushed.value(LAST_SUCCESS, **DEFAULT) == T3  # never back to the gateway's T1
    assert pushed.find("restic_backup_files") == []


def test_the_next_push_delivers_what_was_spooled_while_the_gateway_was_down(
    gateway: Pushgateway, spool: Path, logs: Path
) -> None:
    gateway.stop()
    down = push(gateway.url, sample_log(AUTORESTIC_LOG, logs, T1), *QUICK, spool=spool)
    assert down.code == 75, down
    assert len(spooled(spool)) == len(AUTORESTIC_GROUPS)

    gateway.start()
    push_ok(gateway, sample_log(SUCCESS_LOG, logs, T2), "--location", "other", spool=spool)

    assert spooled(spool) == []
    pushed = gateway.pushed()
    assert pushed.groups() == {*AUTORESTIC_GROUPS, ("other", "default")}
    assert pushed.value(SUCCESS, location="mixed", backend="local") == 0
    assert pushed.value(LAST_SUCCESS, location="config", backend="local") == T1


def test_the_next_push_of_the_same_group_wins_over_its_spooled_report(
    gateway: Pushgateway, spool: Path, logs: Path
) -> None:
    gateway.stop()
    down = push(gateway.url, sample_log(SUCCESS_LOG, logs, T1), *QUICK, spool=spool)
    assert down.code == 75, down

    gateway.start()
    push_ok(gateway, sample_log(FAILURE_LOG, logs, T2), "--exit-code", "1", spool=spool)

    assert spooled(spool) == []
    pushed = gateway.pushed()
    assert pushed.value(SUCCESS, **DEFAULT) == 0
    assert pushed.value(LAST_RUN, **DEFAULT) == T2
    assert pushed.value(LAST_SUCCESS, **DEFAULT) == T1


def test_a_failure_spooled_without_local_state_keeps_the_gateways_last_success_time(
    gateway: Pushgateway, tmp_path: Path, logs: Path
) -> None:
    push_ok(gateway, sample_log(SUCCESS_LOG, logs, T1), spool=tmp_path / "first-spool")
    gateway.stop()
    fresh = tmp_path / "fresh-spool"
    failed = sample_log(FAILURE_LOG, logs, T2)
    down = push(gateway.url, failed, "--exit-code", "1", *QUICK, spool=fresh)
    assert down.code == 75, down

    gateway.start()
    flushed = pushrestic("flush", "--gateway", gateway.url, spool=fresh)

    assert flushed.code == 0, flushed
    pushed = gateway.pushed()
    assert pushed.value(SUCCESS, **DEFAULT) == 0
    assert pushed.value(LAST_SUCCESS, **DEFAULT) == T1


def test_a_report_spooled_for_the_gateway_url_with_a_slash_is_flushed_by_the_url_without(
    tmp_path: Path, spool: Path, logs: Path
) -> None:
    gateway = Pushgateway(tmp_path / "pushgateway")  # not started: its port is closed
    down = push(gateway.url + "/", sample_log(SUCCESS_LOG, logs, T1), *QUICK, spool=spool)
    assert down.code == 75, down

    with gateway:
        flushed = pushrestic("flush", "--gateway", gateway.url, spool=spool)

        assert flushed.code == 0, flushed
        assert spooled(spool) == []
        assert gateway.pushed().value(SUCCESS, **DEFAULT) == 1


def test_flush_with_the_gateway_still_down_keeps_the_report_and_exits_75(
    tmp_path: Path, spool: Path, logs: Path
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert push(url, sample_log(SUCCESS_LOG, logs, T1), *QUICK, spool=spool).code == 75
    before = [path.read_bytes() for path in spooled(spool)]

    flushed = pushrestic("flush", "--gateway", url, *QUICK, spool=spool)

    assert flushed.code == 75, flushed
    assert [path.read_bytes() for path in spooled(spool)] == before
    [entry] = spooled(spool)
    assert json.loads(entry.read_bytes())["last_success"] == T1


# -- HTTP details -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Seen:
    method: str
    path: str
    user_agent: str | None


@contextmanager
def recording_server() -> Iterator[tuple[str, list[Seen]]]:
    """A local HTTP server that records each request and accepts it (202; GET: one group,
    job restic, instance host, location a, backend b)."""
    seen: list[Seen] = []

    class Recorder(BaseHTTPRequestHandler):
        def _record(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            seen.append(Seen(self.command, self.path, self.headers.get("User-Agent")))

        def _answer(self, status: int, body: bytes = b"") -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._record()
            group = {
                "labels": {"job": "restic", "instance": "host", "location": "a", "backend": "b"}
            }
            self._answer(200, json.dumps({"status": "success", "data": [group]}).encode())

        def do_PUT(self) -> None:
            self._record()
            self._answer(202)

        do_POST = do_PUT
        do_DELETE = do_PUT

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_every_request_carries_the_pushrestic_user_agent(spool: Path, logs: Path) -> None:
    with recording_server() as (url, seen):
        failed = sample_log(FAILURE_LOG, logs, T2)
        assert push(url, failed, "--exit-code", "1", spool=spool).code == 0
        assert pushrestic("groups", "--gateway", url, spool=spool).code == 0
        deleted = pushrestic(
            "delete",
            "--gateway",
            url,
            "--instance",
            "host",
            "--location",
            "a",
            "--backend",
            "b",
            spool=spool,
        )
        assert deleted.code == 0, deleted

    assert {(s.method, s.path.split("/")[1]) for s in seen} == {
        ("GET", "api"),
        ("PUT", "metrics"),
        ("DELETE", "metrics"),
    }
    assert {s.user_agent for s in seen} == {f"pushrestic/{__version__}"}
