"""The host-port preflight: a listener holds the port, a connection in TIME_WAIT does not."""

from __future__ import annotations

import socket
import time

import pytest

from orchestrator.errors import PortInUseError
from orchestrator.labfile.loader import load_lab
from orchestrator.runtime.docker.preflight import check_host_ports


def _lab(tmp_path, port: int):
    path = tmp_path / "lab.yml"
    path.write_text(f'services:\n  web:\n    image: looplab/toolbox\n    ports: ["127.0.0.1:{port}:8080"]\n')
    return load_lab(path)


def _listener() -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s


def test_a_listening_port_is_in_use(tmp_path):
    with (
        _listener() as held,
        pytest.raises(PortInUseError, match=r"lab.yml:\d+: services.web.ports: host port 127.0.0.1:\d+/tcp"),
    ):
        check_host_ports(_lab(tmp_path, held.getsockname()[1]))


def test_time_wait_does_not_hold_the_port(tmp_path):
    server = _listener()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    conn, _ = server.accept()
    conn.close()  # the server side closes first: its end lingers in TIME_WAIT on `port`
    time.sleep(0.05)
    client.close()
    server.close()
    check_host_ports(_lab(tmp_path, port))  # must not raise
