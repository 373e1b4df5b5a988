"""The helpers' agent is long-lived: one exec per helper answers every batch of a run over its
attached stdin; an agent that dies or hangs is one line, and the next batch starts a fresh one."""

from __future__ import annotations

import pytest
from looplab_it import COMPOSE, EXPECT_LAUNCHER, LAB, ROLE

from orchestrator.errors import ProbeError
from orchestrator.probes.launchers import make_launcher
from orchestrator.probes.launchers.base import Batch
from orchestrator.probes.protocol import ProbeSpec
from orchestrator.runtime import get_runtime

LAB_NAME = "agent-channel"
# the helper launchers this configuration can use (a rootless engine refuses the agent's host PID namespace)
HELPER_LAUNCHERS = ("join",) if EXPECT_LAUNCHER == "join" else ("agent", "join")
# Run in the helper: signal its own `agent --serve`, the one whose root is this helper's root
# (the agent helper sees every process of the host, other runs' agents included; mount paths
# differ between engines, the root's inode does not).
SIGNAL_THE_AGENT = """
import os, sys
signal_number = int(sys.argv[1])
mine = os.stat('/proc/self/root/')
for pid in filter(str.isdigit, os.listdir('/proc')):
    try:
        argv = open(f'/proc/{pid}/cmdline', 'rb').read().split(b'\\0')
        root = os.stat(f'/proc/{pid}/root/')
    except OSError:
        continue
    if b'--serve' in argv and (root.st_dev, root.st_ino) == (mine.st_dev, mine.st_ino):
        os.kill(int(pid), signal_number)
        print(pid)
"""


def _signal_agent(helper, signal_number: int) -> None:
    done = helper.exec_run(["/usr/local/bin/python3", "-c", SIGNAL_THE_AGENT, str(signal_number)])
    assert done.exit_code == 0 and len(done.output.split()) == 1, done.output  # exactly its one agent


@pytest.fixture
def seed_lab(looplab, tmp_path):
    lab = tmp_path / f"{LAB_NAME}.yml"
    lab.write_text((COMPOSE / "seed-62893.yml").read_text())
    assert looplab.run("up", str(lab)).returncode == 0
    try:
        yield get_runtime().attach(LAB_NAME)
    finally:
        assert looplab.run("down", LAB_NAME).returncode == 0


def _app_probe(live) -> Batch:
    return Batch("app", live.state.netns("app"), [ProbeSpec("mascot", "tcp", address="127.0.0.1", port=62893)])


def _helpers(engine) -> list:
    return engine.containers.list(filters={"label": [f"{LAB}={LAB_NAME}", f"{ROLE}=launcher"]})


@pytest.mark.parametrize("launcher_name", HELPER_LAUNCHERS)
def test_one_agent_answers_every_batch_of_a_run(seed_lab, engine, launcher_name):
    launcher, _why = make_launcher(launcher_name, seed_lab)
    try:
        for _ in range(5):
            outcome = launcher.run([_app_probe(seed_lab)], deadline_s=30)["app"]
            assert outcome.error is None and outcome.results[0].state == "open", outcome
        launcher.inventory([seed_lab.state.netns("app")], owners=True)
        helpers = _helpers(engine)
        assert helpers, "the launcher runs its agent in a helper"
        for helper in helpers:
            helper.reload()
            assert len(helper.attrs["ExecIDs"] or []) == 1, f"{helper.name}: {helper.attrs['ExecIDs']}"
    finally:
        launcher.close()
    assert _helpers(engine) == [], "close() removes the helpers"


@pytest.mark.parametrize("launcher_name", HELPER_LAUNCHERS)
def test_a_killed_agent_is_one_error_then_a_fresh_one_answers(seed_lab, engine, launcher_name):
    launcher, _why = make_launcher(launcher_name, seed_lab)
    try:
        (helper,) = _helpers(engine)  # proved with one probe in app's namespace: app's helper
        _signal_agent(helper, 9)
        with pytest.raises(ProbeError, match="stopped answering"):
            launcher.run([_app_probe(seed_lab)], deadline_s=30)
        outcome = launcher.run([_app_probe(seed_lab)], deadline_s=30)["app"]
        assert outcome.error is None and outcome.results[0].state == "open", outcome
    finally:
        launcher.close()


@pytest.mark.parametrize("launcher_name", HELPER_LAUNCHERS)
def test_a_hung_agent_is_cut_off_at_the_deadline(seed_lab, engine, launcher_name):
    launcher, _why = make_launcher(launcher_name, seed_lab)
    try:
        (helper,) = _helpers(engine)
        _signal_agent(helper, 19)  # SIGSTOP: alive, silent
        with pytest.raises(ProbeError, match="no answer in time"):
            launcher.run([_app_probe(seed_lab)], deadline_s=2)
        outcome = launcher.run([_app_probe(seed_lab)], deadline_s=30)["app"]
        assert outcome.error is None and outcome.results[0].state == "open", outcome
    finally:
        launcher.close()
