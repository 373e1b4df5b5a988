"""Launcher benchmark: the same matrix through setns, agent and join, in one run, order rotated.

    python bench/launcher_bench.py [--services 12] [--reps 5] [--json]

Generates a lab (N toolbox services x 3 TCP listeners on `lan`, every 2nd also on `side`),
starts it once with `orchestrator.session.up`, then, per repetition and in rotated order,
for each launcher: builds it for the running lab (its one-off start: helper containers and
the harmless probe that proves it can enter), runs the matrix of cells no firewall filters
(nothing waits out a timeout) once to warm it, times the same matrix again, and closes it.
Then, end to end and as whole processes, `looplab check compose/seed-62893.yml --launcher X`
for each launcher, rotated. Medians with min-max; the lab is always removed.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C

from orchestrator.plan import NOT_REACHABLE, plan
from orchestrator.probes.launchers import make_launcher
from orchestrator.probing import run_matrix
from orchestrator.session import RunOptions, up

LAUNCHERS = ("setns", "agent", "join")
BASE_PORT = 23000
NETWORKS = ("lan", "side")
SEED = Path(__file__).resolve().parents[1] / "compose" / "seed-62893.yml"


def rotated(rep: int) -> list[str]:
    k = rep % len(LAUNCHERS)
    return [*LAUNCHERS[k:], *LAUNCHERS[:k]]


def time_matrix(live, cells, reps: int) -> dict:
    start: dict[str, list[float]] = {name: [] for name in LAUNCHERS}
    matrix: dict[str, list[float]] = {name: [] for name in LAUNCHERS}
    states: dict[str, list] = {}
    settings, state, lab = live.lab.probe, live.state, live.lab
    for rep in range(reps):
        for name in rotated(rep):
            dt, (launcher, _why) = C.timed(lambda name=name: make_launcher(name, live))
            try:
                run_matrix(cells, state, settings, launcher, lab)  # warm: helpers' first exec, caches
                dm, judged = C.timed(lambda launcher=launcher: run_matrix(cells, state, settings, launcher, lab))
            finally:
                launcher.close()
            start[name].append(dt)
            matrix[name].append(dm)
            states[name] = sorted((c.vantage, c.target, c.proto, c.state) for c in judged)
    same = all(s == states["setns"] for s in states.values())
    return {
        "cells": len(cells),
        "start_s": {n: C.summary(v) for n, v in start.items()},
        "matrix_s": {n: C.summary(v) for n, v in matrix.items()},
        "same_states": same,
    }


def time_check(reps: int) -> dict:
    """`looplab check` of the seed lab as a whole process, per launcher, rotated."""
    runs: dict[str, list[float]] = {name: [] for name in LAUNCHERS}
    codes: dict[str, set[int]] = {name: set() for name in LAUNCHERS}
    for rep in range(reps + 1):  # rep 0 warms the toolbox check and the page cache
        for name in rotated(rep):
            argv = [sys.executable, "-m", "orchestrator", "check", str(SEED), "--launcher", name, "--format", "json"]
            t0 = time.perf_counter()
            done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "LOOPLAB_PULL": "never"})
            if rep:
                runs[name].append(time.perf_counter() - t0)
            codes[name].add(done.returncode)
    return {
        "seconds": {n: C.summary(v) for n, v in runs.items()},
        "exit_codes": {n: sorted(c) for n, c in codes.items()},
    }


def run(args: argparse.Namespace) -> dict:
    result: dict = {"benchmark": "launchers", "env": C.environment()}
    with tempfile.TemporaryDirectory(prefix="looplab-bench-") as tmp:
        lab_file = C.write_lab(Path(tmp), f"benchlaunch{secrets.token_hex(3)}", args.services, base_port=BASE_PORT,
                               networks=NETWORKS)  # fmt: skip
        live = None
        try:
            with C.sigterm_as_interrupt():
                live = up(str(lab_file.path), RunOptions(launcher="setns"), observers=True)
                cells = [c for c in plan(live.lab, live.state) if c.expected not in NOT_REACHABLE]
                result["lab"] = {"services": args.services, "listeners_per_service": 3, "networks": list(NETWORKS)}
                result["matrix"] = time_matrix(live, cells, args.reps)
        finally:
            if live is not None:
                live.handle.teardown()
    result["check"] = time_check(args.reps)
    import docker

    client = docker.from_env()
    result["leftovers"] = C.leftovers(client, lab_names=[lab_file.name, "seed-62893"])
    return result


def render(r: dict) -> str:
    m, chk = r["matrix"], r["check"]
    base = m["matrix_s"]["setns"]["median"]
    rows = []
    for name in LAUNCHERS:
        mm, st, ck = m["matrix_s"][name], m["start_s"][name], chk["seconds"][name]
        rows.append([
            name,
            f"{C.fmt_s(mm['median'])} s ({C.fmt_s(mm['min'])}-{C.fmt_s(mm['max'])})",
            f"{mm['median'] / base:.2f}x",
            f"{C.fmt_s(st['median'])} s ({C.fmt_s(st['min'])}-{C.fmt_s(st['max'])})",
            f"{C.fmt_s(ck['median'])} s ({C.fmt_s(ck['min'])}-{C.fmt_s(ck['max'])})",
            f"{ck['median'] / chk['seconds']['setns']['median']:.2f}x",
        ])  # fmt: skip
    head = ["launcher", f"matrix, {m['cells']} cells", "vs setns", "launcher start", "`check` seed lab", "vs setns"]
    notes = [
        f"- same states through every launcher: {m['same_states']}; exit codes of `check`: {chk['exit_codes']}",
        f"- lab: {r['lab']['services']} services x 3 listeners on {', '.join(r['lab']['networks'])}; "
        f"medians of {m['matrix_s']['setns']['n']} (matrix) and {chk['seconds']['setns']['n']} (check), order rotated",
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
