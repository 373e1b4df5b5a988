"""The inventory reads /proc in-process for launchers on the engine's host and asks the agent for
the others (`inventory_via_agent`): both ways give the same facts for the same namespace."""

from __future__ import annotations

import os

import pytest

from orchestrator.probes.launchers import SetnsLauncher
from orchestrator.probes.launchers.base import inventory_via_agent
from orchestrator.readiness import take_inventory
from orchestrator.runtime.state import LabState, MemberState


class ViaAgent(SetnsLauncher):
    """A launcher that cannot read /proc here: its inventory goes through the agent."""

    name = "via-agent"

    def inventory(self, namespaces, *, owners):
        return inventory_via_agent(self, namespaces)


@pytest.mark.netns
def test_in_process_and_agent_inventories_agree(make_netns, start_serve):
    ns = make_netns()
    served = start_serve("tcp://127.0.0.1:0", "udp://0.0.0.0:0", netns=ns)
    member = MemberState("app", "service", "", "c-app", served.proc.pid, "app", {})  # no container
    here, there = (LabState("lab", "r", {"app": member}, {}) for _ in range(2))
    assert take_inventory(here, SetnsLauncher(), ["app"]) == ["app"]
    assert take_inventory(there, ViaAgent(), ["app"]) == ["app"]
    assert here.sockets["app"] == there.sockets["app"]
    ports = {(s["proto"], s["port"]) for s in here.sockets["app"]}
    assert ("tcp", served.ports[0]) in ports and ("udp", served.ports[1]) in ports
    assert here.sockets["app"][0]["pid"] == served.proc.pid
    assert here.localhost["app"] == there.localhost["app"]
    assert os.getpid() not in {s["pid"] for s in here.sockets["app"]}
