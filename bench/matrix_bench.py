"""Matrix benchmark: one looplab probe matrix against the naive `docker exec` per cell.

    python bench/matrix_bench.py [--services N] [--reps 5] [--sample 150] [--json]

Generates a lab (N toolbox services x 3 TCP listeners, all on `lan`, every 2nd also on
`side`), starts it with `orchestrator.session.up`, plans it, then times
`orchestrator.probing.run_matrix` with the setns launcher: the whole matrix, and the subset of
cells whose expected state is neither filtered nor unreachable ("no cell filtered": nothing
waits out a probe timeout). N defaults to the smallest lab from 10 services up whose subset
has >= 1,000 cells. Baseline, same run, same lab: each cell probed on its own by
`docker exec <vantage container> python3 -c '<tcp connect>'` (host cells: a fresh
`python3 -c` on the host), one after another. If that would take more than --naive-budget
seconds it is timed on a stratified random sample and extrapolated (the output says so).
The lab is always torn down; leftovers are checked at the end.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C

from orchestrator.errors import Interrupted, LooplabError
from orchestrator.labfile.loader import load_lab
from orchestrator.plan import NOT_REACHABLE, PlannedCell, plan
from orchestrator.probes import agent as agent_module
from orchestrator.probes.launchers import SetnsLauncher
from orchestrator.probes.launchers.base import to_request
from orchestrator.probes.launchers.setns import AGENT
from orchestrator.probing import batches_for, judge, run_matrix
from orchestrator.runtime.state import (
    HOST,
    OUTSIDE,
    LabState,
    MemberState,
    NetworkState,
)
from orchestrator.session import RunOptions, up

BASE_PORT = 41000
MIN_SUBSET = 1000
NETWORKS = ("lan", "side")

# One TCP connect, as a user would type it; same timeout as looplab's probe. Exit code unused,
# the state is printed. No grace read after connect (looplab waits grace_s for a reset): the
# baseline does strictly less work per cell than looplab, so the ratio is conservative.
NAIVE_CODE = """\
import errno, socket
a, p, t = {address!r}, {port}, {timeout}
s = socket.socket(socket.AF_INET6 if ':' in a else socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(t)
try:
    s.connect((a, p)); print('open')
except socket.timeout:
    print('filtered')
except ConnectionRefusedError:
    print('closed')
except OSError as e:
    print('unreachable' if e.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL,
                                       errno.EAFNOSUPPORT) else 'error ' + str(e))
"""


# -- sizing: plan a lab offline on a made-up state, to pick N --------------------------------
def _fake_state(lab) -> LabState:
    nets = {n.name: NetworkState(n.name, f"10.{k}.0.1", n.internal) for k, n in enumerate(lab.networks)}
    nets[OUTSIDE] = NetworkState(OUTSIDE, "10.99.0.1", False)
    net_index = {name: k for k, name in enumerate(nets)}
    members: dict[str, MemberState] = {}
    for i, svc in enumerate(lab.services):
        addrs = {a.network: f"10.{net_index[a.network]}.0.{i + 10}" for a in svc.networks}
        members[svc.name] = MemberState(svc.name, "service", "x", svc.name, 0, svc.name, addrs)
    for n in [*(x.name for x in lab.networks), OUTSIDE]:
        member = OUTSIDE if n == OUTSIDE else f"@{n}"
        members[member] = MemberState(member, "observer", "x", member, 0, member, {n: f"10.{net_index[n]}.0.200"})
    return LabState(lab.name, "sizing", members, nets)


def reachable_subset(cells: list[PlannedCell]) -> list[PlannedCell]:
    return [c for c in cells if c.expected not in NOT_REACHABLE]


def pick_size(directory: Path, start: int) -> tuple[int, int, int]:
    """Smallest N >= start whose planned subset has >= MIN_SUBSET cells: (N, cells, subset)."""
    n = start
    while True:
        lab_file = C.write_lab(directory, f"sizing{n}", n, base_port=BASE_PORT, networks=NETWORKS)
        lab = load_lab(str(lab_file.path))
        cells = plan(lab, _fake_state(lab))
        lab_file.path.unlink()
        sub = len(reachable_subset(cells))
        if sub >= MIN_SUBSET or n >= 60:
            return n, len(cells), sub
        n += 1


# -- looplab -------------------------------------------------------------------------------
def time_looplab(started, cells: list[PlannedCell], reps: int) -> dict:
    launcher = SetnsLauncher()
    settings, state, lab = started.lab.probe, started.state, started.lab
    subset = reachable_subset(cells)
    runs = {"full": [], "subset": []}
    last: dict[str, list] = {}
    for rep in range(reps + 1):  # rep 0 is a discarded warm-up
        order = ("full", "subset") if rep % 2 == 0 else ("subset", "full")
        for which in order:
            todo = cells if which == "full" else subset
            dt, out = C.timed(lambda todo=todo: run_matrix(todo, state, settings, launcher, lab))
            if rep:
                runs[which].append(dt)
            last[which] = out
    result = {}
    for which, todo in (("full", cells), ("subset", subset)):
        judged = last[which]
        med = statistics.median(runs[which])
        result[which] = {
            "cells": len(todo),
            "seconds": C.summary(runs[which]),
            "cells_per_s": len(todo) / med,
            "states": dict(Counter(c.state for c in judged)),
            "verdicts": dict(Counter(c.verdict for c in judged)),
            "failing": [
                f"{c.vantage} -> {c.target}: {c.state} (expected {c.expected})" for c in judged if c.verdict != "pass"
            ][:10],
        }
    result["_states"] = {(c.vantage, c.target, c.proto): c.state for c in last["full"]}
    return result


def stage_breakdown(started, subset: list[PlannedCell], reps: int) -> dict:
    """Where the subset's time goes: plan, batches, agent process start-up, probing, judging."""
    launcher = SetnsLauncher()
    settings, state, lab = started.lab.probe, started.state, started.lab
    t_plan, t_batch, t_launch, t_judge, t_empty, t_inproc, t_inproc_nograce = ([] for _ in range(7))
    for _ in range(reps):
        dt, _cells = C.timed(lambda: plan(lab, state))
        t_plan.append(dt)
        dt, batches = C.timed(lambda: batches_for(subset, state, settings))
        t_batch.append(dt)
        dt, outcomes = C.timed(lambda b=batches: launcher.run(b, deadline_s=30.0))
        t_launch.append(dt)
        dt, _ = C.timed(lambda o=outcomes: judge(subset, o, lab))
        t_judge.append(dt)
        # the agent process with nothing to do: interpreter + imports + JSON round trip
        dt, _ = C.timed(
            lambda: subprocess.run(
                [sys.executable, "-I", "-S", str(AGENT)], input=b'{"vantages": []}', capture_output=True, check=True
            )
        )
        t_empty.append(dt)
        # the same batches probed in-process (no child process): pure probing + threads
        netns = {b.vantage: (f"/proc/{b.netns.pid}/ns/net" if b.netns.pid else None) for b in batches}
        request = to_request(batches, netns)
        dt, _ = C.timed(lambda r=request: agent_module.run_request(r))
        t_inproc.append(dt)
        for v in request["vantages"]:
            for p in v["probes"]:
                p["grace"] = 0.0
        dt, _ = C.timed(lambda r=request: agent_module.run_request(r))
        t_inproc_nograce.append(dt)
    med = statistics.median
    return {
        "plan_s": med(t_plan),
        "batches_s": med(t_batch),
        "agent_process_s": med(t_launch),
        "judge_s": med(t_judge),
        "agent_startup_empty_s": med(t_empty),
        "probing_in_process_s": med(t_inproc),
        "probing_in_process_no_grace_s": med(t_inproc_nograce),
        "grace_s": settings.grace_s,
        "timeout_s": settings.timeout_s,
    }


# -- memory ------------------------------------------------------------------------------------
# Runs the agent package as __main__ (exactly what the setns launcher runs), then reports the
# child's own VmHWM: the high-water RSS of its current address space only.
_HWM_WRAPPER = """\
import runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name='__main__')
except SystemExit:
    pass
sys.stdout.flush()
print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1], file=sys.stderr)
"""


def _vm_hwm_kb() -> int:
    with open("/proc/self/status") as fh:
        return int(next(line for line in fh if line.startswith("VmHWM")).split()[1])


def peak_rss(started, cells: list[PlannedCell]) -> dict:
    """Peak RSS of this (orchestrator) process and of an agent child probing the whole matrix.

    getrusage(RUSAGE_CHILDREN).ru_maxrss is reported as asked, but on Linux it is inflated: a
    child's maxrss starts at the high-water mark of the address space it replaced at exec, which
    for subprocess's vfork is the *parent's* (ours). The agent's own figure is its VmHWM.
    """
    batches = batches_for(cells, started.state, started.lab.probe)
    netns = {b.vantage: (f"/proc/{b.netns.pid}/ns/net" if b.netns.pid else None) for b in batches}
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _HWM_WRAPPER, str(AGENT)],
        input=json.dumps(to_request(batches, netns)).encode(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    lines = proc.stderr.decode(errors="replace").strip().splitlines()
    agent_kb = int(lines[-1]) if lines and lines[-1].isdigit() else None
    return {
        "orchestrator_ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "orchestrator_vmhwm": _vm_hwm_kb() / 1024,
        "children_ru_maxrss": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "agent_vmhwm": agent_kb / 1024 if agent_kb else None,
        "agent_cells": len(cells),
    }


# -- naive baseline ------------------------------------------------------------------------------
def naive_argv(cell: PlannedCell, state: LabState, timeout: float) -> list[str]:
    code = NAIVE_CODE.format(address=cell.address, port=cell.port, timeout=timeout)
    if state.namespace_of(cell.vantage) == HOST:
        # the interpreter itself, not a `python3` on PATH: a pyenv shim would add ~0.1 s per cell
        return [sys.executable, "-c", code]
    return ["docker", "exec", state.members[cell.vantage].container_id, "python3", "-c", code]


def naive_one(cell: PlannedCell, state: LabState, timeout: float) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        naive_argv(cell, state, timeout), capture_output=True, text=True, timeout=timeout + 60, check=False
    )
    return time.perf_counter() - t0, (proc.stdout.strip() or f"error exit {proc.returncode}")


def stratum(cell: PlannedCell) -> str:
    if cell.expected == "filtered":
        return "filtered"
    if cell.expected == "unreachable":
        return "unreachable"
    return "reachable"


def time_naive(
    started, cells: list[PlannedCell], looplab_states: dict, *, sample: int, budget_s: float, seed: int
) -> dict:
    state, timeout = started.state, started.lab.probe.timeout_s
    rng = random.Random(seed)
    strata: dict[str, list[PlannedCell]] = {}
    for c in cells:
        strata.setdefault(stratum(c), []).append(c)
    for members in strata.values():
        rng.shuffle(members)
    # pilot: a few cells per stratum, to decide between a full run and a sample
    times: dict[str, list[float]] = {k: [] for k in strata}
    observed: list[tuple[PlannedCell, str]] = []
    done: dict[str, int] = {k: 0 for k in strata}

    def run(kind: str, upto: int) -> None:
        while done[kind] < min(upto, len(strata[kind])):
            cell = strata[kind][done[kind]]
            dt, st = naive_one(cell, state, timeout)
            times[kind].append(dt)
            observed.append((cell, st))
            done[kind] += 1

    wall0 = time.perf_counter()
    for kind in strata:
        run(kind, 5)
    estimate = sum(len(members) * statistics.mean(times[k]) for k, members in strata.items())
    full = estimate <= budget_s
    if full:
        for kind, members in strata.items():
            run(kind, len(members))
    else:
        quota = {"reachable": sample, "unreachable": max(30, sample // 5), "filtered": max(15, sample // 10)}
        for kind in strata:
            run(kind, quota.get(kind, sample))
    per_cell = {k: statistics.mean(v) for k, v in times.items()}
    total = sum(len(members) * per_cell[k] for k, members in strata.items())
    subset_total = len(strata.get("reachable", [])) * per_cell.get("reachable", 0.0)
    agree = sum(1 for cell, st in observed if looplab_states.get((cell.vantage, cell.target, cell.proto)) == st)
    disagree = [
        f"{cell.vantage} -> {cell.target}: naive {st}, looplab "
        f"{looplab_states.get((cell.vantage, cell.target, cell.proto))}"
        for cell, st in observed
        if looplab_states.get((cell.vantage, cell.target, cell.proto)) != st
    ]
    return {
        "mode": "full" if full else "sample",
        "pilot_estimate_s": estimate,
        "cells_timed": {k: done[k] for k in strata},
        "cells_total": {k: len(strata[k]) for k in strata},
        "per_cell_mean_s": per_cell,
        "per_cell_median_s": {k: statistics.median(v) for k, v in times.items()},
        "full_s": total,
        "subset_s": subset_total,
        "wall_s": time.perf_counter() - wall0,
        "agreement": {"same": agree, "different": len(observed) - agree, "examples": disagree[:5]},
    }


def start_lab(path: Path, notes: dict):
    """session.up, retried once: on a shared engine a colleague's `looplab gc --all` or
    `looplab down` (no name) removes every kept lab, ours included, and that is not a timing."""
    try:
        return C.timed(lambda: up(str(path), RunOptions(), observers=True))
    except LooplabError as exc:
        if isinstance(exc, Interrupted):
            raise
        notes["start_failures"] = [str(exc)]
        return C.timed(lambda: up(str(path), RunOptions(), observers=True))


# -- the run ---------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict:
    env = C.environment()
    tag = secrets.token_hex(3)
    with tempfile.TemporaryDirectory(prefix="looplab-bench-") as tmp:
        directory = Path(tmp)
        n, predicted_cells, predicted_subset = (
            pick_size(directory, 10) if args.services is None else (args.services, None, None)
        )
        lab_file = C.write_lab(directory, f"benchmatrix{tag}", n, base_port=BASE_PORT, networks=NETWORKS)
        result: dict = {
            "benchmark": "matrix",
            "env": env,
            "lab": {
                "name": lab_file.name,
                "services": n,
                "listeners_per_service": 3,
                "networks": list(NETWORKS),
                "predicted_cells": predicted_cells,
                "predicted_subset": predicted_subset,
            },
        }
        from orchestrator.runtime.docker.engine import connect

        client = connect()
        started = None
        try:
            with C.sigterm_as_interrupt():
                result["lab"]["toolbox_rebuilt_first"] = C.ensure_toolbox_elsewhere()
                t_up, started = start_lab(lab_file.path, result["lab"])
                result["lab"]["up_s"] = t_up
                cells = plan(started.lab, started.state)
                subset = reachable_subset(cells)
                result["lab"]["vantages"] = len({c.vantage for c in cells})
                result["lab"]["cells"] = len(cells)
                result["lab"]["subset_cells"] = len(subset)
                result["lab"]["expected"] = dict(Counter(c.expected for c in cells))
                looplab = time_looplab(started, cells, args.reps)
                states = looplab.pop("_states")
                result["looplab"] = looplab
                result["rss_mb"] = peak_rss(started, cells)  # before the in-process agent runs below
                result["stages"] = stage_breakdown(started, subset, args.reps)
                if not args.no_naive:
                    result["naive"] = time_naive(
                        started, cells, states, sample=args.sample, budget_s=args.naive_budget, seed=args.seed
                    )
        finally:
            if started is not None:
                t_down, _ = C.timed(started.handle.teardown)
                result["lab"]["teardown_s"] = t_down
            leftover = C.remove_leftovers(
                client, lab_names=[lab_file.name], name_prefixes=[f"looplab-{lab_file.name}-"]
            )
            result["leftovers"] = leftover
    result["env"]["loadavg_end"] = C.loadavg()
    if "naive" in result:
        for which, key in (("full", "full_s"), ("subset", "subset_s")):
            result["looplab"][which]["ratio_naive_over_looplab"] = (
                result["naive"][key] / result["looplab"][which]["seconds"]["median"]
            )
    return result


def render(result: dict) -> str:
    lab, ll, nv = result["lab"], result["looplab"], result.get("naive")
    rows = []
    for which, title in (("full", "whole matrix"), ("subset", "no cell filtered")):
        r = ll[which]
        s = r["seconds"]
        row = [
            title,
            str(r["cells"]),
            f"{C.fmt_s(s['median'])} ({C.fmt_s(s['min'])}–{C.fmt_s(s['max'])})",
            f"{r['cells_per_s']:.0f}",
        ]
        if nv:
            naive_s = nv["full_s"] if which == "full" else nv["subset_s"]
            row += [C.fmt_s(naive_s), f"{r['cells'] / naive_s:.1f}", f"{r['ratio_naive_over_looplab']:.0f}×"]
        rows.append(row)
    header = ["matrix", "cells", "looplab s (median, min–max)", "looplab cells/s"]
    if nv:
        header += ["naive s", "naive cells/s", "naive / looplab"]
    title = (
        f"### Probe matrix: {lab['services']} services × 3 listeners, {len(lab['networks'])} networks, "
        f"{lab['vantages']} vantages (setns launcher, median of {ll['full']['seconds']['n']})"
    )
    out = [title, "", C.md_table(header, rows), ""]
    if nv:
        strata_text = ", ".join(f"{k} {nv['cells_timed'][k]}/{nv['cells_total'][k]}" for k in nv["cells_timed"])
        how = (
            "every cell run"
            if nv["mode"] == "full"
            else f"EXTRAPOLATED from a stratified random sample of {sum(nv['cells_timed'].values())} cells "
            f"({strata_text}); "
            "per-stratum mean × cells"
        )
        per = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in nv["per_cell_mean_s"].items())
        out.append(
            f"- naive baseline: `docker exec <container> python3 -c '<tcp connect>'` per cell, host cells "
            f"a fresh `{Path(sys.executable).name} -c`, sequential; {how}. "
            f"Mean per cell: {per}. Naive and looplab agreed on "
            f"{nv['agreement']['same']}/{nv['agreement']['same'] + nv['agreement']['different']} "
            "cells timed."
        )
        for ex in nv["agreement"]["examples"]:
            out.append(f"  - differs: {ex}")
    st = result["stages"]
    out.append(
        f"- subset stages (medians): agent process {st['agent_process_s']:.3f} s, of which bare start-up "
        f"(empty request) {st['agent_startup_empty_s']:.3f} s; the same probes in-process "
        f"{st['probing_in_process_s']:.3f} s ({st['probing_in_process_no_grace_s']:.3f} s with grace 0; "
        f"grace is {st['grace_s']:g} s); judge {st['judge_s']:.3f} s; plan {st['plan_s']:.3f} s; "
        f"batches {st['batches_s']:.4f} s."
    )
    rss = result["rss_mb"]
    agent = f"{rss['agent_vmhwm']:.0f} MB" if rss["agent_vmhwm"] else "?"
    out.append(
        f"- peak RSS: orchestrator {rss['orchestrator_ru_maxrss']:.0f} MB (RUSAGE_SELF); agent child "
        f"{agent} (its VmHWM, probing all {rss['agent_cells']} cells). RUSAGE_CHILDREN says "
        f"{rss['children_ru_maxrss']:.0f} MB, but Linux carries the parent's high-water mark into a child "
        "at exec (bench/README.md)."
    )
    failing = ll["full"]["failing"]
    out.append(
        f"- looplab verdicts (whole matrix): {ll['full']['verdicts']}" + (f"; e.g. {failing[:3]}" if failing else "")
    )
    out.append(
        f"- lab up {lab.get('up_s', 0):.2f} s, teardown {lab.get('teardown_s', 0):.2f} s; leftovers: "
        f"{', '.join(result['leftovers']) or 'none'}; load average {result['env']['loadavg_start']} → "
        f"{result['env']['loadavg_end']}."
    )
    return "\n".join(out)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--services", type=int, default=None, help="lab size (default: smallest >= 10 with 1,000+ subset cells)"
    )
    p.add_argument("--reps", type=int, default=5, help="timed repetitions (after one warm-up)")
    p.add_argument("--sample", type=int, default=150, help="naive sample size of reachable cells when sampling")
    p.add_argument("--naive-budget", type=float, default=180.0, help="run every naive cell if estimated below this (s)")
    p.add_argument("--no-naive", action="store_true", help="skip the docker-exec baseline")
    p.add_argument("--seed", type=int, default=20261126)
    p.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    return p


def main(argv: list[str] | None = None) -> int:
    return C.bench_main(parser(), run, render, argv)


if __name__ == "__main__":
    sys.exit(main())
