"""Kernel limits that forge silences (issue 12's scale lab): a full neighbour table, the ICMP
rate limit. Such an observation is `suspect`: probed again, never judged on alone."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path

import pytest

from orchestrator import probing
from orchestrator.diagnosis.facts import Facts
from orchestrator.diagnosis.rules import diagnose
from orchestrator.labfile.loader import load_lab
from orchestrator.labfile.model import ProbeSettings
from orchestrator.plan import PlannedCell
from orchestrator.probes.agent import kernel, udp
from orchestrator.probes.agent.core import Vantage
from orchestrator.probes.launchers import VantageOutcome
from orchestrator.probes.protocol import ProbeResult
from orchestrator.probing import run_matrix
from orchestrator.runtime.state import HOST, LabState

ROOT = Path(__file__).resolve().parents[2]

ARP_CACHE = "\n".join(  # /proc/net/stat/arp_cache as read on the scale bench's host after a 50-service matrix
    " ".join(row.split())
    for row in (
        "entries allocs destroys hash_grows lookups hits res_failed rcv_probes_mcast rcv_probes_ucast"
        " periodic_gc_runs forced_gc_runs unresolved_discards table_fulls",
        "00000002 00000552 0000049d 00000006 0000299b 00000f5a 00000001 0 0 0 0000006e 00000000 0000006a",
        "00000002 00000382 00000435 00000002 00001bd8 000009e6 00000000 0 0 00000079 00000086 00000000 00000085",
    )
)


def test_table_fulls_is_the_last_column_summed_over_cpus():
    assert kernel.parse_table_fulls(ARP_CACHE.split("\n")) == 0x6A + 0x85
    assert kernel.parse_table_fulls(["entries allocs", "1 2"]) == 0  # an older kernel without the column


def _result(kind: str, state: str, detail: str | None = None) -> dict:
    return {"id": "0", "kind": kind, "state": state, "detail": detail}


def test_an_overflow_marks_every_silence_of_the_batch_and_nothing_that_answered():
    results = [
        _result("tcp", "filtered", "no answer within 1 s"),
        _result("udp", "open|filtered", "no reply within 1 s"),
        _result("tcp", "open"),
        _result("tcp", "closed", "ECONNREFUSED"),
        _result("udp", "closed", "ICMP type 3 code 3"),
        _result("sockets", "error", "cannot read"),  # not a packet's fate
    ]
    specs = [{"address": "172.18.0.3"}] * len(results)
    kernel.mark_neighbour_overflow(results, specs, 3)
    marked = [bool(r.get("suspect")) for r in results]
    assert marked == [True, True, False, False, False, False]
    assert results[0]["suspect"].startswith("neighbour-table-full: ") and "full 3 time(s)" in results[0]["suspect"]


def test_a_silence_on_loopback_needs_no_neighbour_and_is_an_answer():
    results = [_result("tcp", "filtered", "no answer"), _result("udp", "open|filtered"), _result("tcp", "filtered")]
    specs = [{"address": "127.0.0.1"}, {"address": "::1"}, {"address": "172.19.0.3"}]
    kernel.mark_neighbour_overflow(results, specs, 1)
    assert [bool(r.get("suspect")) for r in results] == [False, False, True]


def test_enobufs_is_suspect_even_when_the_counter_did_not_move():
    results = [_result("udp", "error", "ENOBUFS: No buffer space available"), _result("tcp", "filtered", "x")]
    specs = [{"address": "172.18.0.3"}] * 2
    kernel.mark_neighbour_overflow(results, specs, 0)
    assert [bool(r.get("suspect")) for r in results] == [True, False]
    kernel.mark_neighbour_overflow(results, specs, None)  # counter unreadable
    assert not results[1].get("suspect")


def test_icmp_budget_mirrors_the_kernels_bucket_of_six_then_one_per_interval():
    now = [100.0]
    budget = kernel.IcmpBudget(clock=lambda: now[0])
    assert [budget.take("k") for _ in range(7)] == [True] * 6 + [False]
    assert budget.wait_s("k") == pytest.approx(kernel.ICMP_INTERVAL_S)
    assert budget.take("other")  # another peer has its own bucket
    now[0] += kernel.ICMP_INTERVAL_S
    assert budget.take("k") and not budget.take("k")
    now[0] += 100 * kernel.ICMP_INTERVAL_S  # it never holds more than the burst
    assert [budget.take("k") for _ in range(7)] == [True] * 6 + [False]


def test_loopback_is_never_paced():
    assert kernel.paced_key(1, ipaddress.ip_address("127.0.0.1")) is None
    assert kernel.paced_key(1, ipaddress.ip_address("::1")) is None
    assert kernel.paced_key(1, ipaddress.ip_address("172.18.0.3")) == (1, "172.18.0.3")


def _udp_probe(monkeypatch, answers: list[str], *, spent: bool, max_pacing: float = 5.0) -> tuple[dict, int]:
    """Run the udp kind against scripted sends; the budget for the target spent or not."""
    monkeypatch.setattr(kernel, "ICMP_INTERVAL_S", 0.01)
    monkeypatch.setattr(udp, "MAX_PACING_S", max_pacing)
    budget = kernel.IcmpBudget()
    monkeypatch.setattr(udp, "BUDGET", budget)
    sends = []

    async def send(v, ip, port, timeout, payload):
        sends.append(port)
        state = answers[min(len(sends), len(answers)) - 1]
        return {"state": state, "latency_ms": 1.0, "detail": "x"}

    monkeypatch.setattr(udp, "_send", send)

    async def main() -> dict:
        v = Vantage("peer", None, None, 8, "ns")
        if spent:
            while budget.take(("ns", "172.18.0.3")):
                pass
        return await udp.probe_udp(v, {"address": "172.18.0.3", "port": 5354, "timeout": 0.05})

    return asyncio.run(main()), len(sends)


def test_a_silence_heard_past_the_targets_icmp_budget_is_sent_again(monkeypatch):
    result, sends = _udp_probe(monkeypatch, ["open|filtered", "closed"], spent=True)
    assert (result["state"], sends) == ("closed", 2)
    assert "sent again" in result["detail"] and "suspect" not in result


def test_a_silence_within_the_budget_is_an_answer(monkeypatch):
    result, sends = _udp_probe(monkeypatch, ["open|filtered", "closed"], spent=False)
    assert (result["state"], sends) == ("open|filtered", 1)


def test_a_silence_the_budget_never_allowed_is_suspect_not_open_filtered(monkeypatch):
    result, sends = _udp_probe(monkeypatch, ["open|filtered"], spent=True, max_pacing=0.0)
    assert result["state"] == "open|filtered" and sends == 1
    assert result["suspect"].startswith("icmp-ratelimit: ")


# -- the orchestrator: a suspect cell is probed again and never passes on that observation alone


class Scripted:
    """Answers each run with the next list of (state, suspect) by probe position."""

    name = "scripted"

    def __init__(self, *rounds: list[tuple[str, str | None]]) -> None:
        self.rounds = list(rounds)
        self.calls: list[int] = []

    def run(self, batches, *, deadline_s):
        answers = self.rounds.pop(0)
        self.calls.append(sum(len(b.probes) for b in batches))
        return {
            b.vantage: VantageOutcome(
                b.vantage,
                None,
                [ProbeResult(p.id, p.kind, answers[k][0], suspect=answers[k][1]) for k, p in enumerate(b.probes)],
            )
            for b in batches
        }  # fmt: skip


FULL = "neighbour-table-full: the table was full 2 time(s)"


def _run(monkeypatch, launcher) -> tuple[list, list[float]]:
    pauses: list[float] = []
    monkeypatch.setattr("orchestrator.probing.time.sleep", pauses.append)
    lab = load_lab(ROOT / "compose" / "seed-62893.yml")
    cells = [
        PlannedCell(HOST, "app:1", "tcp", "network", "172.18.0.3", 1, "filtered", frozenset({"filtered"}), "r"),
        PlannedCell(HOST, "app:2", "tcp", "network", "172.18.0.3", 2, "open", frozenset({"open"}), "r"),
    ]
    return run_matrix(cells, LabState(lab.name, "r", {}, {}), ProbeSettings(), launcher, lab), pauses


def test_a_pass_on_a_suspect_silence_is_probed_again_after_the_eviction_age(monkeypatch):
    launcher = Scripted([("filtered", FULL), ("open", None)], [("closed", None)])
    cells, pauses = _run(monkeypatch, launcher)
    assert launcher.calls == [2, 1]  # the passing but suspect cell went again
    assert pauses == [5.0]
    first = cells[0]
    assert (first.state, first.verdict, first.suspect) == ("closed", "mismatch", None)  # judged on the clean probe
    assert first.observations[0].startswith("filtered (neighbour-table-full")
    assert first.diagnosis is None or first.diagnosis.cause != "neighbour-table-full"


def test_a_cell_suspect_every_time_fails_and_keeps_what_was_seen(monkeypatch):
    suspect = [("filtered", FULL), ("open", None)]
    retries = 1 + probing.SUSPECT_ROUNDS
    launcher = Scripted(suspect, *[[("filtered", FULL)]] * retries)
    cells, pauses = _run(monkeypatch, launcher)
    assert launcher.calls == [2] + [1] * retries  # bounded
    cell = cells[0]
    assert (cell.state, cell.verdict) == ("filtered", "mismatch")  # filtered was expected: not a pass
    assert cell.suspect == FULL and len(cell.observations) == 1 + retries
    assert pauses == [probing.NEIGHBOUR_AGE_S] * retries
    found = diagnose(
        Facts(**{**_facts(), "state": cell.state, "suspect": cell.suspect, "observations": cell.observations})
    )
    assert found is not None and found.cause == "neighbour-table-full" and "gc_thresh3" in found.fix


def test_a_clean_failure_is_not_overturned_by_a_suspect_second_probe(monkeypatch):
    launcher = Scripted([("filtered", None), ("closed", None)], [("filtered", FULL)], [("filtered", None)])
    cells, _ = _run(monkeypatch, launcher)
    assert (cells[1].state, cells[1].verdict) == ("closed", "broken")  # judged on the clean first probe
    assert cells[0].verdict == "pass"


def _facts() -> dict:
    return dict(
        vantage="host", target="app:1", proto="tcp", target_kind="network", address="172.18.0.3", port=1,
        state="filtered", expected="filtered", verdict="mismatch", vantage_ns="host", target_ns="app",
    )  # fmt: skip


def test_the_engine_lock_is_not_held_while_waiting_for_a_kernel_limit(monkeypatch):
    from contextlib import contextmanager

    held: list[bool] = [False]
    during_pauses: list[bool] = []

    @contextmanager
    def probing(_engine):
        held[0] = True
        yield
        held[0] = False

    monkeypatch.setattr("orchestrator.probing.probing", probing)
    lab = load_lab(ROOT / "compose" / "seed-62893.yml")
    cells = [PlannedCell(HOST, "app:1", "tcp", "network", "172.18.0.3", 1, "filtered", frozenset({"filtered"}), "r")]
    monkeypatch.setattr("orchestrator.probing.time.sleep", lambda _s: during_pauses.append(held[0]))
    launcher = Scripted([("filtered", FULL)], [("filtered", None)])
    out = run_matrix(cells, LabState(lab.name, "r", {}, {}), ProbeSettings(), launcher, lab)
    assert during_pauses == [False] and not held[0]
    assert (out[0].verdict, out[0].suspect) == ("pass", None)
