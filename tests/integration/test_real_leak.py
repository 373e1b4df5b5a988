"""A real cross-network leak on the real engine: looplab must report it as exposed and name the path.

`web` is on `front`, `store` on `back`; they share no network, so the model says an app in web
cannot even resolve `store` (unreachable) and store's address is not reachable from web. `fwd`
is on both networks with IP forwarding on. The test adds a route in web to store's address via
fwd, and the return route in store via fwd, with `nsenter ... ip route` (only the lab's own
container addresses), so web really reaches store's 0.0.0.0:6379 through fwd. `looplab probe`
must call the cell exposed (exit 1) and `looplab diagnose` must name fwd as the path.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from looplab_it import LAB, MEMBER

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="adding routes inside a namespace needs root")

LEAK_LAB = """\
services:
  store:
    image: looplab/toolbox
    command: ["serve", "tcp://0.0.0.0:6379"]
    networks: [back]
  web:
    image: looplab/toolbox
    command: ["idle"]
    networks: [front]
  fwd:
    image: looplab/toolbox
    command: ["idle"]
    networks: [front, back]
    cap_add: [NET_ADMIN]
    sysctls: {net.ipv4.ip_forward: "1"}
networks:
  front: {}
  back: {}
x-looplab:
  probe: {timeout: 1s}
  expect:
    - {from: web, to: "store:6379", state: unreachable}
"""


def _member(engine, lab: str, member: str) -> dict:
    found = engine.containers.list(filters={"label": [f"{LAB}={lab}", f"{MEMBER}={member}"]})
    assert len(found) == 1, f"{member} of {lab}: {found}"
    return found[0].attrs


def _address(attrs: dict, network: str) -> str:
    nets = attrs["NetworkSettings"]["Networks"]
    name = next(n for n in nets if n.endswith(f"-{network}"))
    return nets[name]["IPAddress"]


def _route(pid: int, destination: str, via: str) -> None:
    """A host route inside a member's namespace, to a lab container address via a lab container."""
    done = subprocess.run(
        ["nsenter", f"--net=/proc/{pid}/ns/net", "ip", "route", "add", f"{destination}/32", "via", via],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture
def leak_lab(looplab, engine, tmp_path: Path):
    path = tmp_path / f"leak-{uuid.uuid4().hex[:8]}.yml"
    path.write_text(LEAK_LAB)
    lab = path.stem
    before = time.time()
    started = looplab.run("up", str(path))
    assert started.returncode == 0, started.describe()
    try:
        yield lab, before
    finally:
        assert looplab.run("down", lab).returncode == 0


def test_the_model_alone_expects_no_way_through(looplab, leak_lab):
    lab, _ = leak_lab
    done = looplab.run("probe", "--lab", lab, "--from", "web", "store:6379")
    assert done.returncode == 0, done.describe()
    assert "unreachable" in done.stdout and "store does not resolve from web" in done.stdout, done.describe()


def test_a_forwarder_between_two_networks_is_an_exposure_with_its_path(looplab, engine, leak_lab):
    lab, _ = leak_lab
    web, store, fwd = (_member(engine, lab, m) for m in ("web", "store", "fwd"))
    store_ip, web_ip = _address(store, "back"), _address(web, "front")
    _route(web["State"]["Pid"], store_ip, _address(fwd, "front"))
    _route(store["State"]["Pid"], web_ip, _address(fwd, "back"))

    probed = looplab.run("probe", "--lab", lab, "--from", "web", "store:6379")
    assert probed.returncode == 1, probed.describe()
    assert "open" in probed.stdout.splitlines()[0] and "exposed" in probed.stdout, probed.describe()

    diagnosed = looplab.run("diagnose", "--lab", lab, "--from", "web", "store:6379")
    assert diagnosed.returncode == 0, diagnosed.describe()  # diagnose explains; probe judges
    assert "open, expected unreachable (exposed)" in diagnosed.stdout, diagnosed.describe()
    assert "routed-leak" in diagnosed.stdout, diagnosed.describe()
    assert "web → fwd → store" in diagnosed.stdout, diagnosed.describe()


def test_the_engine_reports_the_lab_s_own_network_events_as_its_own(leak_lab):
    """LabHandle.network_events: the engine's event stream, this run's networks marked as ours."""
    from orchestrator.runtime import get_runtime

    lab, before = leak_lab
    live = get_runtime().attach(lab)
    events = live.handle.network_events(before - 1, time.time())
    mine = {(e.action, e.network.rsplit("-", 1)[-1]) for e in events if e.ours}
    assert {("create", "front"), ("create", "back")} <= mine, events
    assert all(e.ours == (f"looplab-{lab}-" in e.network) for e in events), events
