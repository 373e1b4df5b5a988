"""Bad input through each launcher: a stopped vantage, an engine that refuses the agent's
helper, an engine that is not there. Each is one line, exit 2, nothing left behind."""

from __future__ import annotations

import pytest
from looplab_it import COMPOSE, EXPECT_LAUNCHER, owned_by

LAUNCHERS = ("setns", "agent", "join")
# The launchers this configuration can use (a docker-group user cannot setns; a rootless
# engine refuses the agent's host PID namespace): the others are refused, see test_launcher_choice.
USABLE = {"setns": LAUNCHERS, "agent": ("agent", "join"), "join": ("join",)}[EXPECT_LAUNCHER]


def _one_line(done) -> None:
    assert done.returncode == 2, done.describe()
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr, done.describe()


@pytest.fixture
def seed_with_peer_stopped(looplab, engine, tmp_path):
    lab = tmp_path / "stopped-vantage.yml"
    lab.write_text((COMPOSE / "seed-62893.yml").read_text())
    assert looplab.run("up", str(lab)).returncode == 0
    try:
        (peer,) = engine.containers.list(
            filters={"label": ["org.looplab.lab=stopped-vantage", "org.looplab.member=peer"]}
        )
        peer.stop(timeout=5)
        yield
    finally:
        assert looplab.run("down", "stopped-vantage").returncode == 0


@pytest.mark.parametrize("launcher", USABLE)
def test_a_stopped_vantage_is_refused_not_taken_for_the_host(looplab, seed_with_peer_stopped, launcher):
    for args in (
        ["probe", "--from", "peer", "127.0.0.1:62893"],
        ["scan", "--from", "peer", "127.0.0.1", "--ports", "1-100"],
    ):
        done = looplab.run(*args[:1], "--lab", "stopped-vantage", "--launcher", launcher, *args[1:])
        _one_line(done)
        assert "peer is not running" in done.stderr, done.describe()


def test_an_engine_that_refuses_the_agent_is_one_line(looplab, engine):
    done = looplab.run(
        "check",
        str(COMPOSE / "seed-62893.yml"),
        "--launcher",
        "agent",
        env=looplab.env(LOOPLAB_AGENT_CAPS="NOT_A_CAPABILITY"),
    )
    _one_line(done)
    assert "--launcher agent cannot enter" in done.stderr and "NOT_A_CAPABILITY" in done.stderr, done.describe()
    assert owned_by(engine, done.pid) == ([], []), "the refused helper and the lab must be gone"


def test_auto_falls_back_when_the_agent_is_refused(looplab):
    done = looplab.run(
        "check",
        str(COMPOSE / "seed-62893.yml"),
        "--format",
        "json",
        env=looplab.env(LOOPLAB_AGENT_CAPS="NOT_A_CAPABILITY"),
    )
    assert done.returncode == 0, done.describe()
    chosen = done.json()["launcher"]
    expected = "setns" if EXPECT_LAUNCHER == "setns" else "join"
    assert chosen.startswith(f"{expected}: entered"), chosen
    if expected == "join":
        assert "agent: cannot create the launcher's container" in chosen, chosen


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_an_engine_that_is_not_there_is_one_line(looplab, launcher):
    done = looplab.run(
        "check",
        str(COMPOSE / "seed-62893.yml"),
        "--launcher",
        launcher,
        env=looplab.env(DOCKER_HOST="unix:///nonexistent.sock"),
    )
    _one_line(done)
    assert "cannot reach the Docker engine at unix:///nonexistent.sock" in done.stderr, done.describe()
