"""The LAN neighbour `@neighbour` (issue 8, section 4) on fixed inputs: its row of the matrix, the
lab file's `lan`, its names and gc, the refusals, the launchers, and its diagnosis. What the
engine really does is asserted in tests/integration/test_lan_neighbour.py."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import pytest

from orchestrator import lan_vantage
from orchestrator.diagnosis.facts import Facts
from orchestrator.diagnosis.rules import diagnose
from orchestrator.domain import Engine
from orchestrator.errors import LabFileError, LooplabError
from orchestrator.labfile.loader import load_lab
from orchestrator.plan import cell_for_target, plan
from orchestrator.probes.launchers.base import NAMED_NETNS_REFUSAL, Batch, split_named
from orchestrator.probes.launchers.local import LocalLauncher
from orchestrator.probes.launchers.setns import path_of
from orchestrator.probes.protocol import ProbeSpec
from orchestrator.probing import reproduce_command
from orchestrator.runtime import labels as L
from orchestrator.runtime import neighbour as N
from orchestrator.runtime.state import (
    HOST,
    NEIGHBOUR,
    OUTSIDE,
    LabState,
    MemberNotRunning,
    MemberState,
    Neighbour,
    Netns,
    NetworkState,
    Published,
)

ROOT = Path(__file__).resolve().parents[2]
NB = Neighbour("looplab-nb-r1-abcdef-1-h", "/run/netns/looplab-nb-r1-abcdef-1-h", "169.254.224.2", "169.254.224.1",
               "lnb-abcdef", ("10.9.0.0/24", "127.0.0.1/32"))  # fmt: skip
ENGINE_20 = Engine("docker", "20.10.24+dfsg1", local=True, rootless=False)


def _state(lab, *, neighbour: Neighbour | None = NB) -> LabState:
    """compose/lan-neighbour.yml as the engine runs it: three services on `back`, two publishes."""
    members = {
        name: MemberState(name, "service", f"id-{name}", f"c-{name}", 100 + i, name, {"back": f"10.9.0.{i + 2}"})
        for i, name in enumerate(("leaky", "guarded", "private"))
    }
    published = (
        Published("leaky", 8080, "tcp", "127.0.0.1", 62887),
        Published("guarded", 8080, "tcp", "127.0.0.1", 62888),
    )
    nets = {"back": NetworkState("back", "10.9.0.1", False, "10.9.0.0/24")}
    return LabState(lab.name, "r1", members, nets, published, engine=ENGINE_20, neighbour=neighbour)


@pytest.fixture
def lab():
    return load_lab(ROOT / "compose" / "lan-neighbour.yml")


def _row(cells) -> dict[str, object]:
    return {c.target: c for c in cells if c.vantage == NEIGHBOUR}


# -- the model ------------------------------------------------------------------
def _unpinned(lab):
    return type(lab)(lab.name, lab.path, lab.services, lab.networks, (), lab.probe, lab.firewall)


def test_the_model_expects_isolation_from_the_neighbour(lab):
    """Without the lab's pins: no container address and no 127.0.0.1 publish is open from the LAN."""
    unpinned = _unpinned(lab)
    row = _row(plan(unpinned, _state(unpinned)))
    assert set(row) == {
        "leaky:8080",
        "guarded:8080",
        "private:8081",
        "host:62887",
        "host:62888",
        "127.0.0.1:62887",
        "127.0.0.1:62888",
    }
    for target, cell in row.items():
        assert "open" not in cell.accepted, (target, cell)
    assert row["leaky:8080"].address == "10.9.0.2" and row["leaky:8080"].target_kind == "network"
    assert row["host:62887"].address == NB.host_address  # the host's end of the neighbour's link
    assert row["127.0.0.1:62887"].address == "127.0.0.1" and row["127.0.0.1:62887"].target_kind == "published"
    assert "moby#45610" in row["127.0.0.1:62887"].reason


def test_the_lab_pins_what_docker_20_does(lab):
    row = _row(plan(lab, _state(lab)))
    assert row["leaky:8080"].accepted == {"open"} and "pinned" not in row["leaky:8080"].reason
    assert row["127.0.0.1:62887"].accepted == {"open"}
    assert row["private:8081"].accepted == {"filtered"}


def test_a_port_published_on_every_interface_may_be_reached_directly(lab):
    """The neighbour reaches it at host:P anyway; direct routing adds nothing, either way passes."""
    lab = _unpinned(lab)
    state = _state(lab)
    state.published = (Published("leaky", 8080, "tcp", "0.0.0.0", 62887),)
    row = _row(plan(lab, state))
    assert "open" in row["leaky:8080"].accepted and "filtered" in row["leaky:8080"].accepted
    assert row["host:62887"].expected == "open"  # rule 4 from the LAN
    assert "127.0.0.1:62887" not in row  # no 127.0.0.1 publish to send there


def test_no_neighbour_no_row_and_its_expectations_wait(lab):
    """Without --lan (or `lan: true`) the row is not planned, and `@neighbour` expect entries wait."""
    cells = plan(lab, _state(lab, neighbour=None))
    assert not [c for c in cells if c.vantage == NEIGHBOUR]


def test_cell_for_target_from_the_neighbour(lab):
    state = _state(lab)
    assert cell_for_target(NEIGHBOUR, "host:9999", "tcp", lab, state).address == NB.host_address
    assert cell_for_target(NEIGHBOUR, "leaky:9999", "tcp", lab, state).accepted == {"closed", "filtered", "unreachable"}
    assert cell_for_target(NEIGHBOUR, "leaky:8080", "tcp", lab, state).expected == "filtered"  # the model's


def test_the_neighbour_is_entered_by_path_never_as_the_host(lab):
    state = _state(lab)
    assert state.netns(NEIGHBOUR) == Netns(NEIGHBOUR, None, None, path=NB.path)
    assert path_of(state.netns(NEIGHBOUR)) == NB.path
    assert path_of(state.netns(HOST)) is None
    with pytest.raises(MemberNotRunning, match="--lan"):
        _state(lab, neighbour=None).netns(NEIGHBOUR)


def test_launchers_that_cannot_enter_a_named_namespace_refuse_it():
    """agent, join and local enter by pid or container; a Netns with no pid must not be the host's."""
    named = Batch(NEIGHBOUR, Netns(NEIGHBOUR, None, None, path=NB.path), [ProbeSpec("0", "tcp", "10.9.0.2", 80)])
    host = Batch(HOST, Netns(HOST, None, None), [])
    kept, refused = split_named([named, host])
    assert kept == [host] and refused[NEIGHBOUR].error == NAMED_NETNS_REFUSAL
    with pytest.raises(LooplabError, match="only the host"):
        LocalLauncher().run([named], deadline_s=5)


def test_the_neighbour_is_the_last_row_of_the_matrix(lab):
    from orchestrator.domain import Report
    from orchestrator.report import matrix

    cells = [p.observed(p.expected) for p in plan(lab, _state(lab))]
    rows = matrix.rows(Report(lab.name, ENGINE_20, tuple(cells)))
    assert rows[-1] == NEIGHBOUR and HOST in rows


def test_the_reproduce_command_asks_for_the_neighbour(lab):
    cell = _row(plan(lab, _state(lab)))["leaky:8080"]
    assert "--from @neighbour leaky:8080 --lan" in reproduce_command(lab, cell)


# -- the lab file -----------------------------------------------------------------
def _load(tmp_path: Path, text: str):
    path = tmp_path / "lab.yml"
    path.write_text(text)
    return load_lab(path)


BASE = "services:\n  app:\n    image: looplab/toolbox\n    command: [idle]\n"


def test_lan_in_the_lab_file(tmp_path: Path):
    lab = _load(
        tmp_path,
        BASE + "x-looplab:\n  probe: {lan: true}\n  expect:\n    - {from: '@neighbour', to: 'app:1', state: closed}\n",
    )
    assert lab.probe.lan and lab.probe.lan_location.endswith("lab.yml:6")
    assert lab.expectations[0].vantage == NEIGHBOUR
    assert not _load(tmp_path, BASE).probe.lan


def test_lan_must_be_a_boolean_and_neighbour_is_not_a_network_name(tmp_path: Path):
    with pytest.raises(LabFileError, match="lan"):
        _load(tmp_path, BASE + "x-looplab:\n  probe: {lan: sometimes}\n")
    with pytest.raises(LabFileError, match="reserved"):
        _load(tmp_path, BASE + "networks:\n  neighbour: {}\n")


# -- where it can be made --------------------------------------------------------------
@pytest.mark.parametrize(
    ("engine", "launcher", "euid", "says"),
    [
        (Engine("docker", "20.10", local=True, rootless=True), "auto", 1000, "rootless"),
        (Engine("docker", "20.10", local=False, rootless=False), "auto", 0, "not on this machine"),
        (ENGINE_20, "join", 0, "--launcher join"),
        (ENGINE_20, "auto", 1000, "needs root"),
    ],
)
def test_refused_in_one_line_where_it_cannot_be_made(monkeypatch, engine, launcher, euid, says):
    monkeypatch.setattr(os, "geteuid", lambda: euid)
    with pytest.raises(LooplabError) as err:
        lan_vantage.refuse_early("--lan", engine, launcher)
    text = str(err.value)
    assert text.startswith("--lan: the LAN neighbour @neighbour cannot be made here") and says in text
    assert "\n" not in text


def test_not_refused_as_root_with_setns_or_when_not_asked(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    lan_vantage.refuse_early("--lan", ENGINE_20, "auto")
    lan_vantage.refuse_early("--lan", ENGINE_20, "setns")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    lan_vantage.refuse_early(None, ENGINE_20, "auto")


def test_who_asked(tmp_path: Path):
    lab = _load(tmp_path, BASE + "x-looplab:\n  probe: {lan: true}\n")
    assert lan_vantage.asked(lab, True) == "--lan"
    assert lan_vantage.asked(lab, False).endswith("lab.yml:6: x-looplab.probe.lan")
    assert lan_vantage.asked(_load(tmp_path, BASE), False) is None


# -- names, addresses and gc -----------------------------------------------------------
def test_the_name_carries_the_labels_gc_needs():
    name = N.netns_name("a1b2c3", "0f0f0f", pid=4242)
    assert name == f"looplab-nb-a1b2c3-0f0f0f-4242-{N.host_tag()}"
    labels = N.labels_of(name)
    assert labels[L.RUN] == "a1b2c3" and labels[L.OWNER_PID] == "4242"
    assert labels[L.OWNER_HOST] == socket.gethostname() and labels[L.KEEP] == "false"
    other = N.labels_of(N.netns_name("a1b2c3", "0f0f0f", pid=1, hostname="Other.Example"))
    assert other[L.OWNER_HOST] == "other-example"  # another host's: gc leaves it to that host
    assert N.labels_of("cni-1234") is None and N.labels_of("looplab-t-ae99") is None
    assert len(f"{N.LINK_PREFIX}0f0f0f") <= 15  # IFNAMSIZ


def test_the_link_is_a_link_local_30_clear_of_the_metadata_address():
    metadata = ipaddress.IPv4Address("169.254.169.254")
    assert N.POOL.subnet_of(ipaddress.IPv4Network("169.254.0.0/16")) and metadata not in N.POOL
    assert not N.POOL.overlaps(ipaddress.IPv4Network("169.254.0.0/24"))
    assert not N.POOL.overlaps(ipaddress.IPv4Network("169.254.255.0/24"))
    block = N._block("000000", [])
    assert block.prefixlen == 30 and block.subnet_of(N.POOL)
    taken = [block, ipaddress.IPv4Network("0.0.0.0/0")]  # a default route takes nothing
    assert N._block("000000", taken) != block


def test_gc_removes_only_neighbours_whose_owner_is_gone(monkeypatch):
    alive, dead = N.netns_name("aaaaaa", "111111", pid=1), N.netns_name("bbbbbb", "222222", pid=2)
    monkeypatch.setattr(N, "listed", lambda: [alive, dead])
    removed: list[tuple[str, str | None]] = []
    monkeypatch.setattr(N, "remove_named", lambda name, link=None: removed.append((name, link)) or 1)
    assert N.gc(lambda labels: labels[L.OWNER_PID] == "1") == 1
    assert removed == [(dead, "lnb-222222")]


def test_session_gc_counts_the_neighbours(monkeypatch):
    from orchestrator import session
    from orchestrator.runtime.base import Removal

    class Runtime:
        def gc(self, *, spare):
            return Removal(2, (), found=2)

    monkeypatch.setattr(session.neighbour, "refusal", lambda: None)
    monkeypatch.setattr(session.neighbour, "gc", lambda spare: 1)
    opts = session.RunOptions()
    monkeypatch.setattr(opts, "make_runtime", lambda: Runtime())
    assert session.gc(opts=opts).removed == 3


# -- the diagnosis ------------------------------------------------------------------------
def _facts(**kw) -> Facts:
    base = dict(
        vantage=NEIGHBOUR,
        target="leaky:8080",
        proto="tcp",
        target_kind="network",
        address="10.9.0.2",
        port=8080,
        state="open",
        expected="filtered",
        verdict="exposed",
        vantage_ns=NEIGHBOUR,
        target_ns="leaky",
        engine_version="20.10.24+dfsg1",
        engine_major=20,
        published_on=("127.0.0.1",),
    )
    base.update(kw)
    return Facts(**base)


def test_direct_routing_names_the_cause_the_engine_and_the_fixes():
    found = diagnose(_facts())
    assert found is not None and found.cause == "direct-routing"
    assert "20.10.24+dfsg1 (before 28)" in found.found and "moby#48724" in found.found
    assert "published on 127.0.0.1 only" in found.found
    for fix in ("bind the service inside its container", "Docker >= 28", "DOCKER-USER", "--ctorigdst 10.9.0.2"):
        assert fix in found.fix


def test_the_127_0_0_1_dnat_names_its_cause():
    found = diagnose(_facts(target="127.0.0.1:62887", target_kind="published", address="127.0.0.1", port=62887))
    assert found is not None and found.cause == "localhost-dnat"
    assert "moby#45610" in found.found and "20.10.24+dfsg1" in found.found
    assert "--ctorigdst 127.0.0.0/8" in found.fix


def test_a_neighbour_cell_that_is_not_exposed_gets_no_lan_cause():
    found = diagnose(_facts(state="filtered", verdict="mismatch", expected="closed"))
    assert found is None or found.cause not in ("direct-routing", "localhost-dnat")


def test_a_filtered_address_from_the_lan_is_isolation_not_a_missing_network():
    found = diagnose(_facts(state="filtered", verdict="pass", expected="filtered", target="private:8081"))
    assert found is not None and found.cause == "lan-isolated" and "share no network" not in found.found


def test_the_outside_observer_never_gets_the_lan_cause():
    found = diagnose(_facts(vantage=OUTSIDE, vantage_ns=OUTSIDE))
    assert found is not None and found.cause not in ("direct-routing", "localhost-dnat")
