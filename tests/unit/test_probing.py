"""Failing cells are probed twice: a transient is kept as passed, with what was seen first."""

from __future__ import annotations

from pathlib import Path

from orchestrator.labfile.loader import load_lab
from orchestrator.labfile.model import ProbeSettings
from orchestrator.plan import PlannedCell
from orchestrator.probes.launchers import VantageOutcome
from orchestrator.probes.protocol import ProbeResult
from orchestrator.probing import run_matrix
from orchestrator.runtime.state import HOST, LabState

ROOT = Path(__file__).resolve().parents[2]


class ScriptedLauncher:
    """Answers each run with the next list of states (by probe position)."""

    name = "scripted"

    def __init__(self, *rounds: list[str]) -> None:
        self.rounds = list(rounds)
        self.calls: list[int] = []

    def run(self, batches, *, deadline_s):
        states = self.rounds.pop(0)
        self.calls.append(sum(len(b.probes) for b in batches))
        return {
            b.vantage: VantageOutcome(
                b.vantage, None, [ProbeResult(p.id, p.kind, states[k]) for k, p in enumerate(b.probes)]
            )
            for b in batches
        }


def _cells() -> list[PlannedCell]:
    closed = frozenset({"closed"})
    return [
        PlannedCell(HOST, "127.0.0.1:1", "tcp", "loopback", "127.0.0.1", 1, "closed", closed, "r"),
        PlannedCell(HOST, "127.0.0.1:2", "tcp", "loopback", "127.0.0.1", 2, "closed", closed, "r"),
    ]


def _run(launcher):
    lab = load_lab(ROOT / "compose" / "seed-62893.yml")
    state = LabState(lab.name, "r", {}, {})
    return run_matrix(_cells(), state, ProbeSettings(), launcher, lab)


def test_a_failure_that_repeats_stands():
    launcher = ScriptedLauncher(["closed", "open"], ["open"])
    cells = _run(launcher)
    assert [c.verdict for c in cells] == ["pass", "exposed"]
    assert launcher.calls == [2, 1]  # only the failing cell is probed again


def test_a_transient_is_kept_as_passed_with_what_was_seen_first():
    cells = _run(ScriptedLauncher(["closed", "open"], ["closed"]))
    assert [c.verdict for c in cells] == ["pass", "pass"]
    assert cells[1].detail.startswith("transient: the first probe saw open")


def test_no_failure_no_second_round():
    launcher = ScriptedLauncher(["closed", "closed"])
    _run(launcher)
    assert launcher.calls == [2]
