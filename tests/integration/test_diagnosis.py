"""Each diagnosis cause, proven on a real lab: a copy of a reference lab with one expectation
flipped (or pins removed) fails, and the failing cell names the cause and what it found."""

from __future__ import annotations

from pathlib import Path

import pytest
from looplab_it import COMPOSE, EXPECT_LAUNCHER, ROOTLESS, cell


def _variant(tmp_path: Path, lab: str, edits: list[tuple[str, str]]) -> Path:
    text = (COMPOSE / f"{lab}.yml").read_text()
    for old, new in edits:
        assert old in text, f"{lab}.yml no longer contains {old!r}"
        text = text.replace(old, new)
    path = tmp_path / f"{lab}.yml"
    path.write_text(text)
    return path


CASES = [
    pytest.param(
        "seed-62893",
        [
            (
                '- {from: peer, to: "app:62893",       state: closed}',
                '- {from: peer, to: "app:62893",       state: open}',
            )
        ],
        ("peer", "app:62893", "tcp"),
        "bound-to-loopback",
        ["127.0.0.1:62893", "serve"],
        id="bound-to-loopback",
    ),
    pytest.param(
        "seed-62893",
        [("  expect:\n", '  expect:\n    - {from: peer, to: "app:9999", state: open}\n')],
        ("peer", "app:9999", "tcp"),
        "nothing-listening",
        ["9999/tcp"],
        id="nothing-listening",
    ),
    pytest.param(
        "wrong-port",
        [('- {from: client, to: "api:8080", state: closed}', '- {from: client, to: "api:8080", state: open}')],
        ("client", "api:8080", "tcp"),
        "wrong-port",
        ["8081", "serve"],
        id="wrong-port",
    ),
    pytest.param(
        "firewall",
        [
            (
                '- {from: app,  to: "127.0.0.1:62893", state: filtered}',
                '- {from: app,  to: "127.0.0.1:62893", state: open}',
            )
        ],
        ("app", "127.0.0.1:62893", "tcp"),
        "firewall",
        ["drops", "--dport 62893", "packets matched"],
        id="firewall-drop",
    ),
    pytest.param(
        "firewall",
        [
            (
                '- {from: peer, to: "app:62894",       state: closed}',
                '- {from: peer, to: "app:62894",       state: open}',
            )
        ],
        ("peer", "app:62894", "tcp"),
        "firewall",
        ["rejects", "tcp-reset"],
        id="firewall-reject",
    ),
    pytest.param(
        "port-conflict",
        [
            (f'    - {{from: {v},{pad}to: "app:8080",    state: closed}}\n', "")
            for v, pad in [("peer", "    "), ('"@lan"', "  "), ("host", "    "), ("app", "     "), ("sidecar", " ")]
        ],
        ("peer", "app:8080", "tcp"),
        "port-conflict",
        ["Address already in use", "held by tcp 127.0.0.1:8080"],
        id="port-conflict",
    ),
    pytest.param(
        "localhost",
        [
            (
                '- {from: v6app, to: "localhost:8080", state: closed}',
                '- {from: v6app, to: "localhost:8080", state: open}',
            )
        ],
        ("v6app", "localhost:8080", "tcp"),
        "localhost-ipv6",
        ["::1 first", "127.0.0.1:8080"],
        id="localhost-ipv6",
    ),
    pytest.param(
        "localhost",
        [
            (
                '- {from: app,   to: "[::1]:8081",     state: unreachable}',
                '- {from: app,   to: "[::1]:8081",     state: open}',
            )
        ],
        ("app", "[::1]:8081", "tcp"),
        "ipv6-disabled",
        ["IPv6 is disabled"],
        id="ipv6-disabled",
    ),
    pytest.param(
        "published",
        [('- {from: host,     to: "host:62895", state: reset}', '- {from: host,     to: "host:62895", state: open}')],
        ("host", "host:62895", "tcp"),
        "proxy-reset",
        ["127.0.0.1:8080", "own loopback"],
        id="proxy-reset",
    ),
    pytest.param(
        "all-interfaces",
        [
            (
                '- {from: stranger, to: "api:62893",       state: unreachable}',
                '- {from: stranger, to: "api:62893",       state: open}',
            )
        ],
        ("stranger", "api:62893", "tcp"),
        "no-shared-network",
        ["share no network", "front"],
        id="no-shared-network",
    ),
    pytest.param(
        "debug-port",
        [
            ('    - {from: peer,   to: "app:6060",     state: open}\n', ""),
            ('    - {from: host,   to: "app:6060",     state: open}\n', ""),
            ('    - {from: "@lan", to: "app:6060",     state: open}\n', ""),
        ],
        ("peer", "app:6060", "tcp"),
        "undeclared-listener",
        ["0.0.0.0:6060", "pid "],
        id="undeclared-listener",
    ),
]


@pytest.mark.parametrize("lab,edits,where,cause,needles", CASES)
def test_failing_cell_is_diagnosed(looplab, tmp_path, lab, edits, where, cause, needles):
    done = looplab.run("check", str(_variant(tmp_path, lab, edits)), "--format", "json")
    assert done.returncode == 1, done.describe()
    c = cell(done.json(), *where)
    assert c["verdict"] != "pass", c
    d = c["diagnosis"]
    assert c["cause"] == d["cause"] == cause, c
    for needle in needles:
        assert needle in d["found"], (needle, d)
    assert d["fix"] and c["diagnosis_text"] == f"{d['found']} Fix: {d['fix']}", c
    assert c["reproduce"] and "looplab probe" in c["reproduce"]


def test_diagnosis_in_every_report_format(looplab, tmp_path):
    lab = _variant(
        tmp_path,
        "wrong-port",
        [('- {from: client, to: "api:8080", state: closed}', '- {from: client, to: "api:8080", state: open}')],
    )
    for fmt in ("terminal", "markdown", "junit", "html"):
        out = tmp_path / f"report.{fmt}"
        done = looplab.run("check", str(lab), "--format", fmt, "--output", str(out))
        assert done.returncode == 1, done.describe()
        assert "nothing listens on 8080/tcp" in out.read_text(), (fmt, out.read_text()[:2000])


def test_diagnose_command_on_a_running_lab(looplab):
    lab = COMPOSE / "port-conflict.yml"
    assert looplab.run("up", str(lab)).returncode == 0
    try:
        done = looplab.run("diagnose", "--lab", "port-conflict", "--from", "peer", "app:8080")
        assert done.returncode == 0, done.describe()
        assert "cause:     port-conflict" in done.stdout, done.describe()
        assert "held by tcp 127.0.0.1:8080" in done.stdout
        done = looplab.run("diagnose", "--lab", "port-conflict", "--from", "host", "app:9090")
        if ROOTLESS:  # the host never dials a rootless container's address
            assert done.returncode == 2 and "RootlessKit" in done.stderr, done.describe()
        else:
            assert "cause:     bound-to-loopback" in done.stdout, done.describe()
        inventory = looplab.run("sockets", "--lab", "port-conflict", "--format", "json", "app")
        assert inventory.returncode == 0, inventory.describe()
        socks = {(s["proto"], s["address"], s["port"]): s for s in inventory.json()["app"]}
        assert ("tcp", "0.0.0.0", 8080) not in socks  # the sidecar never bound it
        assert "serve tcp://127.0.0.1:8080" in socks[("tcp", "127.0.0.1", 8080)]["command"]
        if EXPECT_LAUNCHER == "join":  # a sidecar sees only app's own PID namespace, not its neighbour's process
            assert ("tcp", "127.0.0.1", 9090) in socks
        else:
            assert "--keep-going" in socks[("tcp", "127.0.0.1", 9090)]["command"]
        assert socks[("tcp", "127.0.0.1", 8080)]["pid"] != socks[("tcp", "127.0.0.1", 9090)]["pid"]
    finally:
        assert looplab.run("down", "port-conflict").returncode == 0
