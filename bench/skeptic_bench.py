"""The matrix against what a skilled user would script, in one run, order rotated (issue 12).

    python bench/skeptic_bench.py [--services 12] [--reps 5] [--json]

Generates the launcher benchmark's lab (N toolbox services x 3 TCP listeners on `lan`, every
2nd also on `side`), starts it once, plans it, keeps the cells no firewall filters (nothing
waits out a timeout), and per repetition, in rotated order, probes exactly those cells with:

- looplab: `run_matrix` with the setns launcher (agent in-process, one grace read per open cell);
- (a) one `docker exec` per vantage looping over its cells, one vantage after another;
- (b) the same, every vantage at once;
- (c) `nsenter -t PID -n python3` per vantage looping over its cells, every vantage at once;
- floor: one process, a thread per vantage (setns), non-blocking connects, no grace.

Medians with min-max; the ratios against (b) and (c) are the headline. Every baseline's states
are compared with looplab's (they see `reset` as `open`: no grace read). Needs root (nsenter,
setns). The lab is always removed; leftovers are checked at the end.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C
import baselines as B

from orchestrator.plan import NOT_REACHABLE, plan
from orchestrator.probes.launchers import SetnsLauncher
from orchestrator.probing import run_matrix
from orchestrator.session import RunOptions, up

BASE_PORT = 24000
NETWORKS = ("lan", "side")
WAYS = ("looplab", "a", "b", "c", "floor")
LABELS = {
    "looplab": "looplab `run_matrix` (setns, in-process)",
    "a": "(a) `docker exec` per vantage, in sequence",
    "b": "(b) `docker exec` per vantage, in parallel",
    "c": "(c) `nsenter -t PID -n python3` per vantage, in parallel",
    "floor": "floor: bare non-blocking connects, one process, no grace",
}


def rotated(rep: int) -> list[str]:
    k = rep % len(WAYS)
    return [*WAYS[k:], *WAYS[:k]]


def probe_once(way: str, live, cells) -> tuple[float, dict]:
    state, settings, lab = live.state, live.lab.probe, live.lab
    timeout = settings.timeout_s
    if way == "looplab":
        dt, judged = C.timed(lambda: run_matrix(cells, state, settings, SetnsLauncher(), lab))
        return dt, {(c.vantage, c.target, c.proto): c.state for c in judged}  # type: ignore[union-attr]
    if way == "floor":
        return B.floor(cells, state, timeout)
    how, parallel = {"a": ("exec", False), "b": ("exec", True), "c": ("nsenter", True)}[way]
    return B.scripted(how, parallel, cells, state, timeout)


def agreement(looplab: dict, other: dict) -> dict:
    """How often a baseline saw looplab's state (`reset` counts as `open` without a grace read)."""
    same = sum(1 for k, st in looplab.items() if other.get(k) == ("open" if st == "reset" else st))
    return {"same": same, "different": len(looplab) - same}


def run(args: argparse.Namespace) -> dict:
    result: dict = {"benchmark": "skeptic-matrix", "env": C.environment()}
    with tempfile.TemporaryDirectory(prefix="looplab-bench-") as tmp:
        stem = f"benchskeptic{secrets.token_hex(3)}"
        lab_file = C.write_lab(Path(tmp), stem, args.services, base_port=BASE_PORT, networks=NETWORKS)
        live = None
        try:
            with C.sigterm_as_interrupt():
                live = up(str(lab_file.path), RunOptions(launcher="setns"), observers=True)
                cells = [c for c in plan(live.lab, live.state) if c.expected not in NOT_REACHABLE]
                result["lab"] = {"services": args.services, "listeners_per_service": 3, "networks": list(NETWORKS)}
                result["cells"] = len(cells)
                result["vantages"] = len(B.by_vantage(cells))
                times: dict[str, list[float]] = {w: [] for w in WAYS}
                states: dict[str, dict] = {}
                for rep in range(args.reps + 1):  # rep 0 warms every way (page cache, images, interpreters)
                    for way in rotated(rep):
                        dt, seen = probe_once(way, live, cells)
                        if rep:
                            times[way].append(dt)
                        states[way] = seen
                result["seconds"] = {w: C.summary(v) for w, v in times.items()}
                result["agreement"] = {w: agreement(states["looplab"], states[w]) for w in WAYS if w != "looplab"}
                result["looplab_states"] = dict(Counter(states["looplab"].values()))
        finally:
            if live is not None:
                live.handle.teardown()
    import docker

    result["leftovers"] = C.leftovers(docker.from_env(), lab_names=[stem])
    return result


def render(r: dict) -> str:
    s = r["seconds"]
    base = s["looplab"]["median"]
    rows = []
    for way in WAYS:
        m = s[way]
        ratio = "1.00x" if way == "looplab" else f"{m['median'] / base:.2f}x"
        agree = r["agreement"].get(way)
        rows.append([
            LABELS[way],
            f"{C.fmt_s(m['median'])} s ({C.fmt_s(m['min'])}-{C.fmt_s(m['max'])})",
            ratio,
            f"{agree['same']}/{agree['same'] + agree['different']}" if agree else "-",
        ])  # fmt: skip
    head = ["way", f"{r['cells']} cells, {r['vantages']} vantages", "its time / looplab's", "same states"]
    notes = [
        f"- looplab vs (b): {s['b']['median'] / base:.2f}x faster; vs (c): {s['c']['median'] / base:.2f}x; "
        f"floor is {s['floor']['median'] / base:.2f} of looplab's time",
        f"- looplab's states: {r['looplab_states']}; medians of {s['looplab']['n']}, order rotated; "
        f"leftovers: {r['leftovers'] or 'none'}",
    ]
    return C.md_table(head, rows) + "\n" + "\n".join(notes)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--services", type=int, default=12)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--json", action="store_true")
    return p


if __name__ == "__main__":
    sys.exit(C.bench_main(parser(), run, render, None))
