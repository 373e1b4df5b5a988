"""`looplab probe` on a running lab: each probe kind's states, from inside the namespaces."""

from __future__ import annotations

import pytest
from looplab_it import ROOTLESS

LAB = """\
services:
  web:
    image: looplab/toolbox
    command: ["serve", "http://0.0.0.0:8080", "udp://0.0.0.0:5353", "udp://127.0.0.1:5354"]
    networks: [lan]
  peer:
    image: looplab/toolbox
    command: ["idle"]
    networks: [lan]
  stranger:
    image: looplab/toolbox
    command: ["idle"]
    networks: [other]
networks:
  lan: {}
  other: {}
x-looplab:
  probe: {timeout: 1s}
"""


@pytest.fixture
def kinds_lab(looplab, tmp_path):
    path = tmp_path / "kinds.yml"
    path.write_text(LAB)
    started = looplab.run("up", str(path))
    assert started.returncode == 0, started.describe()
    yield
    assert looplab.run("down", "kinds").returncode == 0


@pytest.mark.parametrize(
    "vantage,target,kind,state,extra",
    [
        ("peer", "web:5353", "udp", "open", "looplab"),  # the echo came back
        ("peer", "web:5354", "udp", "closed", "ICMP"),  # port unreachable
        ("stranger", "web:5353", "udp", "unreachable", "does not resolve"),  # no name there; address: silence
        ("web", "127.0.0.1:5354", "udp", "open", None),
        ("peer", "web", "icmp", "open", None),  # ping, same network
        ("stranger", "web", "icmp", "filtered", None),  # ping across networks: dropped
        ("peer", "web:8080", "http", "open", "200"),  # status line
        ("host", "web:8080", "tcp", "open", None),
    ],
)
def test_probe_kinds(looplab, kinds_lab, vantage, target, kind, state, extra):
    done = looplab.run("probe", "--lab", "kinds", "--from", vantage, target, "--proto", kind)
    if ROOTLESS and vantage == "host":  # the host never dials a rootless container's address
        assert done.returncode == 2 and "RootlessKit" in done.stderr, done.describe()
        return
    assert f": {state}" in done.stdout.splitlines()[0], done.describe()
    if extra:
        assert extra in done.stdout, done.describe()
    assert done.returncode in (0, 1), done.describe()


def test_unknown_vantage_and_target_are_one_line_errors(looplab, kinds_lab):
    for args in (["--from", "nobody", "web:8080"], ["--from", "peer", "ghost:1"], ["--from", "peer", "web"]):
        done = looplab.run("probe", "--lab", "kinds", *args)
        assert done.returncode == 2, done.describe()
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr, done.describe()


def test_matrix_with_every_probe_kind(looplab, tmp_path):
    """icmp cells and HTTP listeners probed with a real GET, in the matrix itself."""
    path = tmp_path / "kinds.yml"
    path.write_text(LAB.replace("probe: {timeout: 1s}", "probe: {timeout: 1s, icmp: true}"))
    done = looplab.run("check", str(path), "--format", "json")
    assert done.returncode == 0, done.describe()
    cells = {(c["from"], c["to"], c["proto"]): c for c in done.json()["cells"]}
    assert cells[("peer", "web", "icmp")]["state"] == "open"
    assert cells[("stranger", "web", "icmp")]["state"] in ("filtered", "unreachable")
    assert cells[("peer", "web:8080", "tcp")]["detail"].startswith("HTTP/1.0 200")
    assert cells[("peer", "web:5353", "udp")]["state"] == "open"


def test_resolve_inside_namespaces(looplab, kinds_lab):
    done = looplab.run("resolve", "--lab", "kinds", "--from", "peer", "web")
    assert done.returncode == 0 and "(from dns)" in done.stdout, done.describe()
    done = looplab.run("resolve", "--lab", "kinds", "--from", "web", "localhost")
    assert "127.0.0.1 first" in done.stdout, done.describe()  # IPv6 is off in the container
    # no shared network: Docker's DNS would forward the name outside the lab, so it is not asked
    done = looplab.run("resolve", "--lab", "kinds", "--from", "stranger", "web")
    assert done.returncode == 1 and "was not asked" in done.stdout, done.describe()
    refused = looplab.run("resolve", "--lab", "kinds", "--from", "peer", "example.com")
    assert refused.returncode == 2 and "outside the lab" in refused.stderr, refused.describe()
