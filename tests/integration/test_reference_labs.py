"""Every reference lab in compose/ checks clean on the real engine, and shows its lesson.

`looplab check FILE --format json` must exit 0 with a `looplab/report@1` report and no
failing cell; then a few observed states per lab are pinned — the ones that *are* the
lesson (a lab whose expectations were all relaxed would still pass the first check).
"""

from __future__ import annotations

import re

import pytest
from looplab_it import COMPOSE, EXPECT_LAUNCHER, ROOTLESS, cell, neighbours, owned_by

LAB_FILES = sorted(COMPOSE.glob("*.yml"))

# lab stem -> [(from, to, allowed observed states)]: the cells that prove the lesson.
LESSONS: dict[str, list[tuple[str, str, set[str]]]] = {
    "seed-62893": [
        ("app", "127.0.0.1:62893", {"open"}),  # its own loopback: open
        ("peer", "app:62893", {"closed"}),  # a peer dials app's eth0: nothing there
        ("host", "127.0.0.1:62893", {"closed"}),  # the host's loopback is another one
    ],
    "published": [
        ("host", "host:62895", {"reset"}),  # docker-proxy accepts, then resets
        ("@outside", "host:62894", {"closed"}),  # published on 127.0.0.1: not from the LAN
        # published on 0.0.0.0: from the LAN; on a rootless engine @outside's gateway is RootlessKit's
        # namespace, where the port driver binds nothing (README, "Engines")
        ("@outside", "host:62896", {"closed"} if ROOTLESS else {"open"}),
    ],
    "host-mode": [
        ("host", "127.0.0.1:62897", {"open"}),  # host networking: its loopback is the host's
        ("bridged", "127.0.0.1:62897", {"closed"}),  # a bridged container has its own loopback
    ],
    "shared-namespace": [
        ("sidecar", "127.0.0.1:62893", {"open"}),  # network_mode: service:app shares app's lo
    ],
    "internal": [
        ("inner", "world:8080", {"unreachable"}),  # world does not resolve from inner (address: filtered)
        ("gate", "world:8080", {"open"}),  # gate is on both networks
    ],
    "all-interfaces": [
        ("client", "api:62893", {"open"}),  # 0.0.0.0 is reachable over a shared network
    ],
    "firewall": [
        ("app", "127.0.0.1:62893", {"filtered"}),  # DROP on lo: a timeout
        ("app", "app:62893", {"filtered"}),  # own eth0 address goes through lo too
        ("peer", "app:62893", {"open"}),  # the lo rule does not see eth0 traffic
        ("peer", "app:62894", {"closed"}),  # REJECT with tcp-reset
    ],
    "port-conflict": [
        ("app", "127.0.0.1:8080", {"open"}),  # the first process holds the port
        ("peer", "app:8080", {"closed"}),  # the sidecar's 0.0.0.0:8080 never bound
    ],
    "wrong-port": [
        ("client", "api:8081", {"open"}),
        ("client", "api:8080", {"closed"}),
    ],
    "localhost": [
        ("v6app", "localhost:8080", {"closed"}),  # ::1 first, service on 127.0.0.1 only
        ("v6app", "127.0.0.1:8080", {"open"}),
        ("app", "localhost:8081", {"open"}),  # IPv6 off: localhost means 127.0.0.1
        ("app", "[::1]:8081", {"unreachable"}),
    ],
    "lan-neighbour": [  # Docker 20.10, measured: direct routing and the 127.0.0.1 DNAT both leak
        ("@neighbour", "leaky:8080", {"open"}),
        ("@neighbour", "127.0.0.1:62887", {"open"}),
        ("@neighbour", "guarded:8080", {"closed"}),  # bound to 127.0.0.1 inside: refused
        ("@neighbour", "127.0.0.1:62888", {"closed"}),
        ("@neighbour", "host:62887", {"closed"}),  # the publish is on 127.0.0.1, not the host's link
        ("host", "host:62887", {"open"}),
    ],
    "debug-port": [
        ("peer", "app:8080", {"closed"}),  # the declared listener is private
        ("peer", "app:6060", {"open"}),  # the undeclared debug port is not
    ],
}
UDP_LESSONS: dict[str, list[tuple[str, str, set[str]]]] = {
    "udp": [
        ("peer", "dns:5353", {"open"}),  # a reply came back
        ("peer", "dns:5354", {"closed"}),  # ICMP port unreachable
        ("stranger", "dns:5353", {"unreachable"}),  # dns does not resolve there; its address: silence
    ],
}
# `not open`: any observed state but open (filtered on 20.10; unreachable elsewhere).
NOT_OPEN: dict[str, list[tuple[str, str]]] = {
    "all-interfaces": [("stranger", "api:62893")],
}


def test_the_reference_labs_are_there():
    """A renamed or deleted lab must not silently drop its lesson checks."""
    stems = {p.stem for p in LAB_FILES}
    missing = sorted((set(LESSONS) | set(UDP_LESSONS)) - stems)
    assert not missing, f"reference labs missing from {COMPOSE}: {missing}"


@pytest.mark.parametrize("lab_file", LAB_FILES, ids=[p.stem for p in LAB_FILES])
def test_reference_lab_checks_clean_and_shows_its_lesson(looplab, engine, lab_file):
    done = looplab.run("check", str(lab_file), "--format", "json")
    refusal = _refused_here(lab_file.stem)
    if refusal:  # this configuration cannot run the lab: one line that says why, nothing left
        assert done.returncode == 2 and refusal in done.stderr, done.describe()
        assert len(done.stderr.strip().splitlines()) == 1, done.describe()
        assert owned_by(engine, done.pid) == ([], []), "a refused lab must leave nothing behind"
        assert neighbours(done.pid) == [], "a refused lab must leave no namespace behind"
        return
    assert done.returncode == 0, done.describe()
    assert "Traceback" not in done.stdout + done.stderr, done.describe()
    report = done.json()

    assert report["schema"] == "looplab/report@1"
    assert report["lab"] == lab_file.stem
    assert report["engine"]["kind"] == "docker"
    assert report["cells"], "a lab with no cells proves nothing"
    summary = report["summary"]
    failing = [
        f"{c['from']} -> {c['to']}/{c['proto']}: {c['state']} (expected {c['expected']}, {c['verdict']})"
        for c in report["cells"]
        if c["verdict"] != "pass"
    ]
    assert summary["fail"] == 0, f"failing cells: {failing}"
    assert summary["cells"] == len(report["cells"])
    assert summary["pass"] + summary["flaky"] == summary["cells"]

    for frm, to, allowed in LESSONS.get(lab_file.stem, []):
        c = cell(report, frm, to)
        assert c["state"] in allowed, (
            f"{lab_file.stem}: {frm} -> {to} was {c['state']}, the lesson needs {sorted(allowed)}: {c}"
        )
        assert c["verdict"] == "pass", c
    for frm, to, allowed in UDP_LESSONS.get(lab_file.stem, []):
        c = cell(report, frm, to, "udp")
        assert c["state"] in allowed, f"{lab_file.stem}: {frm} -> {to}/udp was {c['state']}: {c}"
    for frm, to in NOT_OPEN.get(lab_file.stem, []):
        c = cell(report, frm, to)
        assert c["state"] != "open", f"{lab_file.stem}: {frm} -> {to} must not be open: {c}"
        assert "does not resolve" in (c["detail"] or "") and c["address"], c  # the address was probed anyway

    containers, networks = owned_by(engine, done.pid)
    assert not containers and not networks, "check must remove its lab before exiting"
    assert neighbours(done.pid) == [], "check must remove its LAN neighbour before exiting"


def _refused_here(stem: str) -> str | None:
    """What this configuration says, in one line, instead of running the lab (README, "Engines")."""
    if stem == "host-mode" and ROOTLESS:
        return "RootlessKit's network namespace"
    if stem == "lan-neighbour" and EXPECT_LAUNCHER != "setns":  # a non-root user, or a rootless engine
        return "the LAN neighbour @neighbour cannot be made here"
    return None


def test_terminal_format(looplab):
    """The default format: the matrix with the lab's name and a summary line, on stdout."""
    done = looplab.run("check", str(COMPOSE / "seed-62893.yml"))
    assert done.returncode == 0, done.describe()
    assert "Traceback" not in done.stdout + done.stderr, done.describe()
    assert "seed-62893" in done.stdout, done.describe()
    summary = [line for line in done.stdout.splitlines() if re.search(r"\b\d+ cells\b.*\b\d+ pass\b.*\b0 fail\b", line)]
    assert summary, f"no summary line (N cells · N pass · 0 fail) in stdout:\n{done.stdout}"
    assert re.search(r"\b(\d+) cells\b.*\b\1 pass\b", summary[0]), summary[0]
    assert not done.stdout.lstrip().startswith("{"), "the terminal format is not JSON"
