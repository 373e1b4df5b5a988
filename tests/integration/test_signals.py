"""Ctrl-C, SIGTERM and SIGKILL in the middle of a run.

SIGINT/SIGTERM: the run removes its lab and exits 130/143 with one line on stderr.
SIGKILL: nothing can clean up, so leftovers exist; `looplab gc` removes them.

The lab takes several seconds to probe: `far` is on a network of its own, so the cells
between it and `app` get no answer and last the whole probe timeout (8 s). Timing is never
asserted; the tests poll the engine to know where the run is.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from looplab_it import (
    ROLE,
    RUN_TIMEOUT,
    counts_for,
    gc_finished,
    owned_by,
    wait_for,
)

SLOW_LAB = """\
name: sig-slow
services:
  app:
    image: looplab/toolbox
    command: ["serve", "tcp://0.0.0.0:62893"]
    networks: [front]
  far:
    image: looplab/toolbox
    command: ["idle"]
    networks: [back]
networks:
  front: {}
  back: {}
x-looplab:
  probe: {timeout: 8s}
"""
MEMBERS = {"app", "far", "@front", "@back", "@outside"}  # services + one observer per network


@pytest.fixture
def slow_lab(tmp_path: Path) -> Path:
    path = tmp_path / "sig-slow.yml"
    path.write_text(SLOW_LAB)
    return path


def _running_members(engine, pid: int) -> set[str]:
    containers, _ = owned_by(engine, pid)
    return {c.labels.get("org.looplab.member") for c in containers if c.status == "running"}


def _wait_lab_running(engine, proc: subprocess.Popen) -> None:
    """Until every container of the run is up (the run is past start-up, into readiness/probing)."""
    wait_for("the lab's containers to run", lambda: _running_members(engine, proc.pid) >= MEMBERS, proc=proc)


def _finish(proc: subprocess.Popen) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the run did not exit within {RUN_TIMEOUT:g}s after the signal\n{out}\n{err}")


def _assert_interrupted(engine, proc: subprocess.Popen, signum: int, out: str, err: str) -> None:
    expected = 128 + signum
    where = f"exit {proc.returncode}\nstdout: {out}\nstderr: {err}"
    assert proc.returncode == expected, where
    assert "Traceback" not in out + err, where
    lines = [line for line in err.splitlines() if not line.startswith("looplab: warning: ")]  # rootless warns
    assert len(lines) == 1, f"stderr must be one line besides the run's warnings:\n{where}"
    assert "interrupt" in lines[0].lower(), where
    assert signal.Signals(signum).name in lines[0], where
    containers, networks = owned_by(engine, proc.pid)
    assert not containers and not networks, f"left behind: {counts_for(engine, proc.pid)}"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_while_probing(looplab, engine, slow_lab, signum):
    proc = looplab.start("check", str(slow_lab))
    _wait_lab_running(engine, proc)
    time.sleep(1.5)  # let readiness pass: probing lasts >= 8 s, so this lands in it (not asserted)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signum)
    out, err = _finish(proc)
    _assert_interrupted(engine, proc, signum, out, err)


def test_ctrl_c_to_the_process_group(looplab, engine, slow_lab):
    """A terminal's Ctrl-C goes to the whole foreground group: the CLI *and* its probe agent."""
    proc = looplab.start("check", str(slow_lab), start_new_session=True)
    _wait_lab_running(engine, proc)
    time.sleep(1.5)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    os.killpg(proc.pid, signal.SIGINT)
    out, err = _finish(proc)
    _assert_interrupted(engine, proc, signal.SIGINT, out, err)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_during_startup(looplab, engine, slow_lab, signum):
    """As soon as the run's first labelled network exists, while the rest is being made."""
    proc = looplab.start("check", str(slow_lab))
    wait_for("the run's first network", lambda: owned_by(engine, proc.pid)[1], interval=0.005, proc=proc)
    proc.send_signal(signum)
    out, err = _finish(proc)
    _assert_interrupted(engine, proc, signum, out, err)


def test_sigkill_leaves_leftovers_that_gc_removes(looplab, engine, slow_lab):
    proc = looplab.start("check", str(slow_lab))
    _wait_lab_running(engine, proc)
    proc.kill()
    proc.communicate(timeout=60)  # reaped: a zombie would still count as a live owner
    assert proc.returncode == -signal.SIGKILL

    containers, networks = owned_by(engine, proc.pid)
    assert containers and networks, "SIGKILL cannot clean up: its lab must still be there"
    services = {c.labels.get("org.looplab.member") for c in containers if c.labels.get(ROLE) == "service"}
    assert services == {"app", "far"}, services
    left = len(containers) + len(networks)

    done = looplab.run("gc")
    assert gc_finished(done.returncode, done.stderr), done.describe()
    assert "Traceback" not in done.stdout + done.stderr, done.describe()
    removed = int(done.stdout.split("removed", 1)[1].split()[0]) if "removed" in done.stdout else -1
    assert removed >= left, f"gc removed {removed}, {left} were left:\n{done.describe()}"
    containers, networks = owned_by(engine, proc.pid)
    assert not containers and not networks, f"gc left: {counts_for(engine, proc.pid)}"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_second_signal_during_startup(looplab, engine, slow_lab, signum):
    """Ctrl-C pressed twice (or a supervisor repeating SIGTERM) while the lab is being made.

    The second signal lands while the run is already unwinding toward its cleanup; the
    cleanup must still remove everything the run made — including what was in flight.
    """
    proc = looplab.start("check", str(slow_lab))
    wait_for("the run's first network", lambda: owned_by(engine, proc.pid)[1], interval=0.005, proc=proc)
    proc.send_signal(signum)
    time.sleep(0.03)
    if proc.poll() is None:
        proc.send_signal(signum)
    out, err = _finish(proc)
    _assert_interrupted(engine, proc, signum, out, err)
