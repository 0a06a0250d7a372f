"""The test servers' ports: each worker its own, none an outgoing connection can take."""

from __future__ import annotations

import itertools
import socket
from pathlib import Path

import pytest

from tests.integration import servers
from tests.integration.servers import PORTS, free_port, worker_ports


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_each_worker_has_ports_of_its_own_within_the_range(count: int) -> None:
    slices = [set(worker_ports(f"gw{index}", count)) for index in range(count)]
    assert all(len(ports) >= len(PORTS) // count > 1000 for ports in slices)
    assert all(ports <= set(PORTS) for ports in slices)
    assert sum(len(ports) for ports in slices) == len(set().union(*slices))


def test_the_ports_lie_below_the_ports_this_kernel_gives_outgoing_connections() -> None:
    low, _high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    assert PORTS.stop <= int(low)


def test_free_port_never_hands_out_the_same_port_twice() -> None:
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(port in PORTS for port in ports)


def test_free_port_passes_over_a_port_something_listens_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    busy, spare = free_port(), free_port()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", busy))
        listener.listen()
        monkeypatch.setattr(servers, "_next_ports", itertools.cycle([busy, spare]))
        assert free_port() == spare
