"""testcontainers users: any started container is a vantage and a target, a network is a lab.

    TESTCONTAINERS_RYUK_DISABLED=true python -m pytest examples/test_testcontainers.py

Ryuk (testcontainers' reaper) is an image pulled from a registry; where none can be reached,
disable it: the `with` blocks remove the containers, and what looplab adds carries its
labels (`looplab gc` removes it after a hard kill).
"""

from __future__ import annotations

from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network

from orchestrator.testcontainers import assert_isolated, probe


def test_a_loopback_bound_app():
    with (
        DockerContainer("looplab/toolbox").with_command("serve tcp://127.0.0.1:8080") as c,
        DockerContainer("looplab/toolbox").with_command("idle") as other,
    ):
        assert probe(c, "127.0.0.1:8080").state == "open"  # from c's own namespace
        assert probe(other, c, 8080).state == "closed"  # another container cannot reach it
        # probe("host", c, 8080) asks the same of the host (refused on a rootless engine, whose
        # container addresses are not on the host's routes: README, "Engines")


def test_a_network_checked_as_a_lab():
    with (
        Network() as net,
        DockerContainer("looplab/toolbox")
        .with_command("serve tcp://0.0.0.0:8080")
        .with_network(net)
        .with_network_aliases("api"),
        DockerContainer("looplab/toolbox").with_command("idle").with_network(net).with_network_aliases("client"),
    ):
        assert_isolated(net, expect=[("client", "api:8080", "open")])
