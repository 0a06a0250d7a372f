"""The command line with a real Pushgateway: one line when an interactive push
succeeds and nothing in cron, ``delete`` of a group that is not there, and
``--gateway host:port``."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import cli
from tests.integration.commands import Terminal, read_terminal
from tests.integration.servers import (
    AUTORESTIC_LOG,
    PUSHRESTIC_TIMEOUT,
    SUCCESS_LOG,
    Pushgateway,
    environment,
    free_port,
    pushrestic,
    sample_log,
    started_pushgateway,
)

pytestmark = pytest.mark.integration

T1 = 1_760_000_000.0


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Pushgateway]:
    with started_pushgateway(tmp_path / "pushgateway") as started:
        yield started


def on_a_terminal(*args: str, spool: Path) -> tuple[int, str]:
    """``pushrestic ARGS`` with its stderr a terminal (as in an interactive shell), stdin
    closed and stdout a pipe; returns the exit code and what the terminal showed."""
    with Terminal() as terminal:
        proc = subprocess.Popen(
            cli.argv(*args),
            env=environment(spool),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=terminal.slave,
        )
        terminal.let_go()
        try:
            shown = read_terminal(terminal.master, until=None, timeout=PUSHRESTIC_TIMEOUT)
            code = proc.wait(timeout=PUSHRESTIC_TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return code, shown.decode()


def test_an_interactive_push_says_what_it_delivered_on_one_line(
    gateway: Pushgateway, tmp_path: Path
) -> None:
    log = sample_log(AUTORESTIC_LOG, tmp_path / "logs", T1)
    code, shown = on_a_terminal("push", "--gateway", gateway.url, str(log), spool=tmp_path / "s")
    assert code == 0, shown
    assert shown == f"pushrestic: pushed 4 groups to {gateway.url}\n"
    assert len(gateway.group_labels()) == 4


def test_a_push_in_cron_says_nothing_unless_asked(gateway: Pushgateway, tmp_path: Path) -> None:
    log = sample_log(SUCCESS_LOG, tmp_path / "logs", T1)
    quiet = pushrestic("push", "--gateway", gateway.url, str(log), spool=tmp_path / "s")
    assert (quiet.code, quiet.stdout, quiet.stderr) == (0, "", "")
    told = pushrestic("push", "-v", "--gateway", gateway.url, str(log), spool=tmp_path / "s")
    assert told.code == 0, told
    assert f"pushrestic: pushed 1 group to {gateway.url}" in told.stderr.splitlines()


def test_an_interactive_textfile_write_says_where(tmp_path: Path) -> None:
    log = sample_log(AUTORESTIC_LOG, tmp_path / "logs", T1)
    path = tmp_path / "restic.prom"
    code, shown = on_a_terminal("push", "--textfile", str(path), str(log), spool=tmp_path / "s")
    assert code == 0, shown
    assert shown == f"pushrestic: wrote 4 groups to {path}\n"
    assert path.exists()


def test_delete_of_a_group_that_is_not_there_says_so_and_exits_2(
    gateway: Pushgateway, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    log = sample_log(SUCCESS_LOG, tmp_path / "logs", T1)
    pushed = pushrestic(
        "push", "--gateway", gateway.url, "--location", "srv", str(log), spool=spool
    )
    assert pushed.code == 0, pushed
    before = gateway.group_labels()

    done = pushrestic(
        "delete", "--gateway", gateway.url, "--location", "nope", "--backend", "x", spool=spool
    )

    assert done.code == 2, done
    (line,) = done.stderr.splitlines()
    assert line.startswith("pushrestic: error: no group nope/x ")
    assert "nothing deleted" in line
    assert done.stdout == ""
    assert gateway.group_labels() == before


def test_delete_of_a_group_that_only_waits_in_the_spool_removes_it(tmp_path: Path) -> None:
    """Not on the gateway yet (it was down), but the next run would deliver it."""
    spool = tmp_path / "spool"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = sample_log(SUCCESS_LOG, tmp_path / "logs", T1)
    down = pushrestic("push", "--gateway", url, "--attempts", "1", str(log), spool=spool)
    assert down.code == 75, down
    assert list(spool.glob("*.json")), "kept in the spool"
    with Pushgateway(tmp_path / "pushgateway", port=port) as gateway:
        done = pushrestic(
            "delete", "--gateway", url, "--location", "default", "--backend", "default", spool=spool
        )
        assert done.code == 0, done
        assert done.stdout == "deleted default/default (it was waiting in the spool only)\n"
        assert not list(spool.glob("*.json"))
        again = pushrestic("push", "--gateway", url, str(log), spool=spool)
        assert again.code == 0, again
        assert len(gateway.group_labels()) == 1, "only the new run's group"


def test_delete_of_a_group_on_the_gateway_still_deletes_it(
    gateway: Pushgateway, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    log = sample_log(SUCCESS_LOG, tmp_path / "logs", T1)
    assert pushrestic("push", "--gateway", gateway.url, str(log), spool=spool).code == 0
    done = pushrestic(
        "delete",
        "--gateway",
        gateway.url,
        "--location",
        "default",
        "--backend",
        "default",
        spool=spool,
    )
    assert (done.code, done.stdout) == (0, "deleted default/default\n"), done
    assert gateway.group_labels() == []


def test_a_gateway_given_as_host_and_port_is_pushed_to(
    gateway: Pushgateway, tmp_path: Path
) -> None:
    host_port = gateway.url.removeprefix("http://")
    assert "://" not in host_port
    log = sample_log(SUCCESS_LOG, tmp_path / "logs", T1)
    done = pushrestic("push", "--gateway", host_port, str(log), spool=tmp_path / "s")
    assert done.code == 0, done
    assert [labels["location"] for labels in gateway.group_labels()] == ["default"]
