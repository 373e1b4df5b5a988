"""The fact finder on a made-up engine state, its raw reads faked (no engine, no nsenter)."""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

from orchestrator.diagnosis.bind_failures import bind_failures, in_use
from orchestrator.diagnosis.finder import FactFinder
from orchestrator.diagnosis.rules import diagnose
from orchestrator.domain import Cell
from orchestrator.labfile.loader import load_lab
from orchestrator.plan import PlannedCell
from orchestrator.runtime.state import LabState, MemberState, NetworkState

ROOT = Path(__file__).resolve().parents[2]

APP_LOG = (
    "serve: listening tcp://127.0.0.1:62893\n"
    "serve: cannot bind tcp://0.0.0.0:62893: [Errno 98] Address already in use\n"
    "serve: cannot bind tcp://10.9.9.9:62893: [Errno 99] Cannot assign requested address\n"
)
APP_RULES = (
    "*filter\n[4:240] -A INPUT -p tcp -m tcp --dport 62893 -j DROP\n"
    "[0:0] -A OUTPUT -p tcp -m tcp --dport 1 -j DROP\nCOMMIT\n"
)
PEER_RULES = "*filter\n[1:60] -A OUTPUT -p tcp -m tcp --dport 62893 -j REJECT\n[0:0] -A INPUT -p tcp -j DROP\nCOMMIT\n"


class FakeReads:
    """Canned logs and rules per member / namespace; counts how often each is asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, object]] = []

    def logs(self, member: str, tail: int) -> str:
        self.asked.append(("logs", member))
        return {"app": APP_LOG}.get(member, "")

    def firewall_text(self, namespace: str) -> tuple[str, str]:
        self.asked.append(("firewall", namespace))
        return {"app": (APP_RULES, ""), "peer": (PEER_RULES, "")}.get(namespace, ("", ""))


def _finder() -> tuple[FactFinder, FakeReads]:
    lab = load_lab(ROOT / "compose" / "seed-62893.yml")
    state = LabState(
        lab.name,
        "r",
        {
            "app": MemberState("app", "service", "i-app", "c1", 11, "app", {"lan": "10.9.0.2"}),
            "peer": MemberState("peer", "service", "i-peer", "c2", 12, "peer", {"lan": "10.9.0.3"}),
        },
        {"lan": NetworkState("lan", "10.9.0.1", False)},
        sockets={"app": [{"proto": "tcp", "address": "127.0.0.1", "port": 62893, "pid": 7, "command": "serve"}]},
    )
    reads = FakeReads()
    return FactFinder(reads, lab, state), reads


def _probed(port: int = 62893) -> tuple[PlannedCell, Cell]:
    """peer dials app:PORT, which the plan says app's namespace answers; seen closed."""
    planned = PlannedCell(
        "peer", f"app:{port}", "tcp", "network", "10.9.0.2", port, "open", frozenset({"open"}), "r", target_ns="app"
    )
    return planned, planned.observed("closed")


def test_facts_come_from_the_injected_reads():
    finder, _ = _finder()
    f = finder.facts_for(*_probed())
    assert (f.vantage_ns, f.target_ns, f.shared_networks) == ("peer", "app", ("lan",))
    assert [(e.chain, e.dport, e.target) for e in f.firewall] == [("INPUT", 62893, "DROP"), ("OUTPUT", 62893, "REJECT")]
    assert f.bind_errors == (
        "app: serve: cannot bind tcp://0.0.0.0:62893: [Errno 98] Address already in use",
        "app: serve: cannot bind tcp://10.9.9.9:62893: [Errno 99] Cannot assign requested address",
    )
    assert f.target_sockets[0]["port"] == 62893


def test_each_namespace_is_read_once():
    finder, reads = _finder()
    finder.facts_for(*_probed())
    finder.facts_for(*_probed(port=1))
    assert sorted(reads.asked, key=str) == [("firewall", "app"), ("firewall", "peer"), ("logs", "app")]


def test_a_conflict_needs_an_address_in_use():
    finder, _ = _finder()
    f = replace(finder.facts_for(*_probed()), firewall=())
    assert diagnose(f).cause == "port-conflict" and "Address already in use" in diagnose(f).found
    assert diagnose(replace(f, bind_errors=f.bind_errors[1:])).cause == "bound-to-loopback"


def test_bind_failures_scanner():
    log = "ok\nbind: Address already in use\nEADDRINUSE :80\nlisten tcp 10.1.1.1:80: Cannot assign requested address\n"
    assert bind_failures(log) == log.splitlines()[1:]
    assert [in_use(line) for line in bind_failures(log)] == [True, True, False]
    assert bind_failures("") == []


def test_the_diagnosis_needs_neither_docker_nor_the_runtime():
    for path in (ROOT / "orchestrator" / "diagnosis").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = ["." * node.level + (node.module or "")]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                assert not name.startswith(("docker", "subprocess")), (path.name, name)
                assert "runtime" not in name or name == "..runtime.state", (path.name, name)
