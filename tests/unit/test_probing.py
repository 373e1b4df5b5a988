"""Failing cells are probed twice: an exposure stands, a broken cell that then passes is flaky."""

from __future__ import annotations

from pathlib import Path

from orchestrator.domain import Engine, Report
from orchestrator.labfile.loader import load_lab
from orchestrator.labfile.model import ProbeSettings
from orchestrator.plan import PlannedCell
from orchestrator.probes.launchers import VantageOutcome
from orchestrator.probes.protocol import ProbeResult
from orchestrator.probing import run_matrix
from orchestrator.runtime.state import HOST, LabState

ENGINE = Engine("docker", "20.10.24")

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
    opened = frozenset({"open"})
    return [
        PlannedCell(HOST, "127.0.0.1:1", "tcp", "loopback", "127.0.0.1", 1, "closed", closed, "r"),
        PlannedCell(HOST, "127.0.0.1:2", "tcp", "loopback", "127.0.0.1", 2, "closed", closed, "r"),
        PlannedCell(HOST, "127.0.0.1:3", "tcp", "loopback", "127.0.0.1", 3, "open", opened, "r"),
    ]


def _run(launcher):
    lab = load_lab(ROOT / "compose" / "seed-62893.yml")
    state = LabState(lab.name, "r", {}, {})
    return run_matrix(_cells(), state, ProbeSettings(), launcher, lab)


def test_a_failure_that_repeats_stands():
    launcher = ScriptedLauncher(["closed", "open", "open"], ["open"])
    cells = _run(launcher)
    assert [c.verdict for c in cells] == ["pass", "exposed", "pass"]
    assert launcher.calls == [3, 1]  # only the failing cell is probed again
    assert cells[1].observations == ("open", "open")


def test_an_exposure_seen_once_is_never_retried_into_a_pass():
    cells = _run(ScriptedLauncher(["closed", "open", "open"], ["closed"]))
    assert cells[1].verdict == "exposed"
    assert cells[1].state == "open"
    assert cells[1].observations == ("open", "closed")
    assert "the first probe saw open; a second saw closed" in cells[1].detail


def test_an_exposure_on_the_second_probe_stands_too():
    cells = _run(ScriptedLauncher(["closed", "filtered", "open"], ["open"]))
    assert cells[1].verdict == "exposed"
    assert cells[1].observations == ("filtered", "open")


def test_a_broken_cell_that_then_passes_is_flaky_and_counted():
    cells = _run(ScriptedLauncher(["closed", "closed", "filtered"], ["open"]))
    flaky = cells[2]
    assert flaky.verdict == "flaky" and flaky.passed
    assert flaky.state == "open"
    assert flaky.observations == ("filtered", "open")
    report = Report("lab", ENGINE, tuple(cells))
    assert report.summary.flaky == 1 and report.summary.passed == 2 and report.summary.failed == 0
    assert report.ok and not report.ok_strict


def test_a_mismatch_that_then_passes_is_flaky():
    cells = _run(ScriptedLauncher(["filtered", "closed", "open"], ["closed"]))
    assert cells[0].verdict == "flaky"


def test_no_failure_no_second_round():
    launcher = ScriptedLauncher(["closed", "closed", "open"])
    _run(launcher)
    assert launcher.calls == [3]


STORE_LAB = """\
services:
  web: {image: looplab/toolbox, command: [idle], networks: [front]}
  store: {image: looplab/toolbox, command: [serve, "tcp://0.0.0.0:6379"], networks: [back]}
networks: {front: {}, back: {}}
x-looplab:
  expect:
    - {from: web, to: "store:6379", state: unreachable}
"""


def _store(tmp_path, *states):
    from orchestrator.plan import plan
    from orchestrator.runtime.state import MemberState, NetworkState

    path = tmp_path / "store-dns.yml"
    path.write_text(STORE_LAB)
    lab = load_lab(path)
    members = {
        "web": MemberState("web", "service", "id-web", "c-web", 101, "web", {"front": "172.30.0.2"}),
        "store": MemberState("store", "service", "id-store", "c-store", 102, "store", {"back": "172.31.0.2"}),
    }
    nets = {"front": NetworkState("front", "172.30.0.1", False), "back": NetworkState("back", "172.31.0.1", False)}
    state = LabState(lab.name, "r", members, nets)
    planned = [c for c in plan(lab, state) if (c.vantage, c.target) == ("web", "store:6379")]
    return run_matrix(planned, state, ProbeSettings(), ScriptedLauncher(*[[s] for s in states]), lab)[0]


def test_a_name_that_does_not_resolve_is_unreachable_and_its_address_still_probed(tmp_path):
    cell = _store(tmp_path, "filtered")
    assert (cell.state, cell.expected, cell.verdict) == ("unreachable", "unreachable", "pass")
    assert cell.address == "172.31.0.2"
    assert cell.detail == "store does not resolve from web; its address 172.31.0.2 on back: filtered"


def test_an_open_address_behind_a_name_that_does_not_resolve_is_exposed(tmp_path):
    cell = _store(tmp_path, "open", "open")
    assert (cell.state, cell.verdict) == ("open", "exposed")
