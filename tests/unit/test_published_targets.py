"""`host:SERVICE:P`: the host port a service's container port is published on, picked by the engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import LabFileError, LooplabError
from orchestrator.labfile.loader import load_lab
from orchestrator.plan import plan, published_target
from orchestrator.runtime.state import HOST, OUTSIDE, LabState, MemberState, NetworkState, Published

ROOT = Path(__file__).resolve().parents[2]


def _state(lab, published) -> LabState:
    members = {
        "web": MemberState("web", "service", "id-web", "c-web", 101, "web", {"default": "10.9.0.2"}),
        "hidden": MemberState("hidden", "service", "id-h", "c-h", 102, "hidden", {"default": "10.9.0.3"}),
        OUTSIDE: MemberState(OUTSIDE, "observer", "id-o", "c-o", 103, OUTSIDE, {OUTSIDE: "10.9.99.2"}),
    }
    nets = {"default": NetworkState("default", "10.9.0.1", False), OUTSIDE: NetworkState(OUTSIDE, "10.9.99.1", False)}
    return LabState(lab.name, "r1", members, nets, tuple(published), ipv6_loopback={HOST: True})


def test_an_ephemeral_publish_is_named_by_service_and_container_port():
    lab = load_lab(ROOT / "compose" / "ephemeral-publish.yml")
    assert [p.host_port for s in lab.services for p in s.ports] == [None, None]  # the engine picks
    assert {e.target for e in lab.expectations} == {"host:web:8080", "host:hidden:8080"}
    state = _state(
        lab, [Published("web", 8080, "tcp", "127.0.0.1", 49153), Published("hidden", 8080, "tcp", "127.0.0.1", 49154)]
    )
    assert published_target("host:web:8080", "tcp", state) == "host:49153"
    assert published_target("app:8080", "tcp", state) == "app:8080"  # any other target unchanged
    cells = {(c.vantage, c.target): c for c in plan(lab, state)}
    assert cells[HOST, "host:49153"].expected == "open"
    assert "expect at" in cells[HOST, "host:49153"].reason  # the entry pinned the picked port's cell
    assert cells[HOST, "host:49154"].expected == "reset"
    assert cells[OUTSIDE, "host:49153"].expected == "closed"
    assert not any("host:web" in c.target for c in cells.values())  # the report shows the real port


def test_a_published_target_the_engine_did_not_publish_is_refused():
    lab = load_lab(ROOT / "compose" / "ephemeral-publish.yml")
    with pytest.raises(LooplabError, match="web publishes no container port 8080/tcp"):
        published_target("host:web:8080", "tcp", _state(lab, []))


def test_the_loader_refuses_a_service_port_that_is_not_published(tmp_path):
    path = tmp_path / "lab.yml"
    path.write_text(
        "services:\n"
        "  web:\n"
        "    image: looplab/toolbox\n"
        '    command: ["serve", "tcp://0.0.0.0:8080"]\n'
        '    ports: ["127.0.0.1::8080"]\n'
        "x-looplab:\n"
        "  expect:\n"
        '    - {from: host, to: "host:web:9090", state: open}\n'
    )
    with pytest.raises(LabFileError, match=r"lab.yml:8: .*web publishes no container port 9090/tcp"):
        load_lab(path)
    path.write_text(path.read_text().replace("host:web:9090", "host:nobody:8080"))
    with pytest.raises(LabFileError, match="unknown service 'nobody' in target 'host:nobody:8080'"):
        load_lab(path)
