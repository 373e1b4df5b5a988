"""Signals that land late (issue 9, items 1 and 4), made deterministic by the run's own test
instrumentation: with LOOPLAB_TEST_HOLD=PHASE:MARKER the run stops at PHASE, writes MARKER,
and waits (for the signal to be recorded, or for MARKER.go). The test waits for MARKER — a
condition, never a fixed sleep — and sends the signal exactly in that phase.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest
from looplab_it import RUN_TIMEOUT, counts_for, owned_by, wait_for

LAB = """\
services:
  app:
    image: looplab/toolbox
    command: ["serve", "tcp://127.0.0.1:62893"]
    networks: [lan]
  peer:
    image: looplab/toolbox
    command: ["idle"]
    networks: [lan]
networks:
  lan: {}
x-looplab:
  probe: {timeout: 1s}
"""


def _lab(tmp_path: Path, stem: str) -> Path:
    path = tmp_path / f"{stem}.yml"
    path.write_text(LAB)
    return path


def _finish(proc: subprocess.Popen) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the run did not exit within {RUN_TIMEOUT:g}s after the signal\n{out}\n{err}")


def _held_run(looplab, tmp_path: Path, stem: str, phase: str) -> tuple[subprocess.Popen, Path]:
    marker = tmp_path / f"{phase}.held"
    env = looplab.env(LOOPLAB_TEST_HOLD=f"{phase}:{marker}")
    proc = looplab.start("check", "--format", "json", str(_lab(tmp_path, stem)), env=env)
    wait_for(f"the run to reach its {phase}", marker.exists, proc=proc)
    return proc, marker


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_teardown_still_interrupts_the_run(looplab, engine, tmp_path: Path, signum):
    """Item 1: the signal is recorded while the lab is being removed, and raised afterwards."""
    proc, _ = _held_run(looplab, tmp_path, f"late-teardown-{signum}", "teardown")
    assert owned_by(engine, proc.pid)[0], "the hold is at the start of teardown: the lab is still there"
    proc.send_signal(signum)
    out, err = _finish(proc)
    where = f"exit {proc.returncode}\nstdout: {out}\nstderr: {err}"
    assert proc.returncode == 128 + signum, where
    name = signal.Signals(signum).name
    assert _said(err) == [f"looplab: interrupted by {name}; the lab was removed"], where
    assert out == "", f"an interrupted run prints no report:\n{where}"
    containers, networks = owned_by(engine, proc.pid)
    assert not containers and not networks, f"left behind: {counts_for(engine, proc.pid)}"


def test_a_signal_after_the_report_prints_no_traceback(looplab, engine, tmp_path: Path):
    """Item 4: the command is over (report written, lab removed); the interpreter is shutting down."""
    proc, marker = _held_run(looplab, tmp_path, "late-exit", "exit")
    proc.send_signal(signal.SIGINT)
    Path(f"{marker}.go").write_text("")  # lets a run that ignored the signal finish
    out, err = _finish(proc)
    where = f"exit {proc.returncode}\nstdout: {out}\nstderr: {err}"
    assert "Traceback" not in err and "Exception ignored" not in err, where
    assert _said(err) == ["looplab: interrupted by SIGINT"], where
    assert proc.returncode == 130, where
    report = json.loads(out)  # the whole report was written before the signal
    assert report["summary"]["cells"] > 0 and report["summary"]["fail"] == 0, where
    containers, networks = owned_by(engine, proc.pid)
    assert not containers and not networks, f"left behind: {counts_for(engine, proc.pid)}"


def _said(err: str) -> list[str]:
    """stderr without the run's warnings (a rootless engine warns about the host cells it leaves out)."""
    return [line for line in err.splitlines() if not line.startswith("looplab: warning: ")]
