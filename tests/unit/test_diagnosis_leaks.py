"""Exposures explained: the engine's rewrite window (its network events) and a forwarding member."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from orchestrator.diagnosis.facts import Facts
from orchestrator.diagnosis.finder import FactFinder
from orchestrator.diagnosis.rules import diagnose
from orchestrator.labfile.loader import load_lab
from orchestrator.plan import PlannedCell
from orchestrator.runtime.docker.events import network_events
from orchestrator.runtime.state import LabState, MemberState, NetworkEvent, NetworkState

ROOT = Path(__file__).resolve().parents[2]
AT = 1764171000.25  # 15:30:00.250 UTC


def exposed_facts(**kw) -> Facts:
    base = Facts(
        vantage="web",
        target="store:6379",
        proto="tcp",
        target_kind="network",
        address="10.9.1.2",
        port=6379,
        state="open",
        expected="unreachable",
        verdict="exposed",
        vantage_ns="web",
        target_ns="store",
        vantage_networks=("front",),
        target_networks=("back",),
        target_sockets=({"proto": "tcp", "address": "0.0.0.0", "port": 6379, "pid": 9, "command": "serve"},),
    )
    return replace(base, **kw)


def test_an_exposure_that_did_not_repeat_during_a_network_create_is_the_engine_rewriting_its_rules():
    event = NetworkEvent("create", "other-lab-net", AT, ours=False)
    d = diagnose(exposed_facts(observations=("open", "filtered (timeout)"), engine_events=(event,)))
    assert d.cause == "engine-rules-rewritten"
    assert "network other-lab-net create at 15:30:00.250 UTC" in d.found
    assert "open; then filtered (timeout)" in d.found


def test_an_exposure_seen_on_every_probe_is_not_a_window():
    event = NetworkEvent("create", "other-lab-net", AT, ours=False)
    d = diagnose(exposed_facts(observations=("open", "open"), engine_events=(event,)))
    assert d.cause == "exposed"


def test_a_member_on_both_networks_is_named_as_the_path():
    d = diagnose(exposed_facts(forwarders=(("fwd", "front", "back"),)))
    assert d.cause == "routed-leak"
    assert "web → fwd → store" in d.found and "fwd is on both front and back" in d.found
    assert "ip_forward=0" in d.fix


class EventReads:
    def __init__(self, events):
        self.events = events
        self.windows = []

    def logs(self, member, tail):
        return ""

    def firewall_text(self, namespace):
        return "", ""

    def network_events(self, since, until):
        self.windows.append((since, until))
        return self.events


def test_the_finder_keeps_only_other_labs_networks_and_names_forwarders(tmp_path):
    path = tmp_path / "leak-finder.yml"
    path.write_text(
        "services:\n"
        "  web: {image: looplab/toolbox, command: [idle], networks: [front]}\n"
        "  store: {image: looplab/toolbox, command: [serve, 'tcp://0.0.0.0:6379'], networks: [back]}\n"
        "  fwd: {image: looplab/toolbox, command: [idle], networks: [front, back]}\n"
        "networks: {front: {}, back: {}}\n"
    )
    lab = load_lab(path)
    members = {
        "web": MemberState("web", "service", "i1", "c1", 11, "web", {"front": "10.9.0.2"}),
        "store": MemberState("store", "service", "i2", "c2", 12, "store", {"back": "10.9.1.2"}),
        "fwd": MemberState("fwd", "service", "i3", "c3", 13, "fwd", {"front": "10.9.0.3", "back": "10.9.1.3"}),
    }
    nets = {"front": NetworkState("front", "10.9.0.1", False), "back": NetworkState("back", "10.9.1.1", False)}
    state = LabState(lab.name, "r", members, nets)
    reads = EventReads(
        [NetworkEvent("connect", "looplab-x-r-front", AT, ours=True), NetworkEvent("create", "theirs", AT, ours=False)]
    )
    finder = FactFinder(reads, lab, state, (AT - 1, AT + 1))
    planned = PlannedCell(
        "web", "store:6379", "tcp", "network", "10.9.1.2", 6379, "unreachable", frozenset({"unreachable"}), "r",
        target_ns="store",
    )  # fmt: skip
    f = finder.facts_for(planned, planned.observed("open"))
    assert [e.network for e in f.engine_events] == ["theirs"]
    assert f.forwarders == (("fwd", "front", "back"),)
    finder.facts_for(planned, planned.observed("open"))
    assert reads.windows == [(AT - 1, AT + 1)]  # read once


class FakeClient:
    def __init__(self, events):
        self.events_ = events
        self.asked = {}

    def events(self, **kw):
        self.asked = kw
        return iter(self.events_)


def test_docker_network_events_are_read_with_the_window_and_marked():
    raw = [
        {"Type": "network", "Action": "connect", "Actor": {"Attributes": {"name": "mine", "type": "bridge"}},
         "time": 1, "timeNano": int(AT * 1e9)},
        {"Type": "network", "Action": "create", "Actor": {"Attributes": {"name": "theirs", "type": "bridge"}},
         "time": 1, "timeNano": int(AT * 1e9)},
        {"Type": "network", "Action": "connect", "Actor": {"Attributes": {"name": "host", "type": "host"}},
         "time": 1},
    ]  # fmt: skip
    client = FakeClient(raw)
    got = network_events(client, AT - 1, AT + 1, {"mine"})
    assert [(e.action, e.network, e.ours) for e in got] == [("connect", "mine", True), ("create", "theirs", False)]
    assert client.asked["filters"] == {"type": "network"} and client.asked["decode"] is True
    assert float(client.asked["since"]) == AT - 1 and float(client.asked["until"]) == AT + 1
