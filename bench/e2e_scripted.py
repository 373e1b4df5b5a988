"""The end-to-end job as a skilled user would script it without looplab (issue 12).

    python bench/e2e_scripted.py --way b|c -p PROJECT -f LAB --cells CELLS.json --out OUT.json

Standard library only (plus the `docker`, `docker-compose` and `nsenter` commands), so that its
start-up is that of a plain script. Steps, all inside the timed process:

1. `docker-compose -p PROJECT -f LAB up -d`;
2. `docker-compose ps -q` and one `docker inspect` of every container: service, pid, addresses;
3. readiness: poll `/proc/PID/net/tcp` and `tcp6` of every service every 10 ms until each of
   its listed TCP ports is in state LISTEN (UDP ports: `udp`/`udp6`, any bound socket);
4. probe the cells of CELLS.json (planned by `bench/e2e_bench.py` with looplab's planner), one
   interpreter per vantage looping over that vantage's cells, every vantage at once:
   way b `docker exec CONTAINER python3 -c LOOP`, way c `nsenter -t PID -n python3 -c LOOP`; the
   host's cells in a host interpreter; LOOP is `bench/baselines.py`'s, passed in CELLS.json;
5. write `[{"from", "to", "proto", "state", "expected", "pass"}, ...]` to OUT.json;
6. `docker-compose -p PROJECT -f LAB down -t 0` (also when a step above failed). If the engine
   refuses to remove a network whose containers are all gone ("has active endpoints", its stale
   endpoint count, moby#42119), that is recorded as `down_refused` in the phases, not a failure.

Prints one JSON line of phase times to stderr. Exit 0 if every cell was probed and is as
expected, 1 if a cell is not, 2 if a step failed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

LISTEN = {"tcp": "0A", "udp": "07"}  # /proc/net/{tcp,udp} `st` of a listening / bound socket


def compose(project: str, lab: str, *args: str) -> str:
    done = subprocess.run(["docker-compose", "-p", project, "-f", lab, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"docker-compose {args[0]} failed: {done.stderr.strip()[-400:]}")
    return done.stdout


def inspect(project: str, lab: str) -> dict[str, dict]:
    """service -> {"id", "pid", "ip": {lab network: address}} for the project's containers."""
    ids = compose(project, lab, "ps", "-q").split()
    raw = json.loads(subprocess.run(["docker", "inspect", *ids], capture_output=True, check=True).stdout)
    out: dict[str, dict] = {}
    prefix = project + "_"
    for c in raw:
        nets = c["NetworkSettings"]["Networks"]
        out[c["Config"]["Labels"]["com.docker.compose.service"]] = {
            "id": c["Id"],
            "pid": c["State"]["Pid"],
            "ip": {n.removeprefix(prefix): v["IPAddress"] for n, v in nets.items()},
        }
    return out


def listening(pid: int, proto: str) -> set[int]:
    ports: set[int] = set()
    for table in (proto, proto + "6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == LISTEN[proto]:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def wait_ready(members: dict[str, dict], listeners: dict[str, list[list]], deadline_s: float = 60.0) -> None:
    todo = {(s, proto, port) for s, ls in listeners.items() for proto, port in ls}
    end = time.monotonic() + deadline_s
    while todo:
        for s, proto, port in list(todo):
            if port in listening(members[s]["pid"], proto):
                todo.discard((s, proto, port))
        if not todo:
            return
        if time.monotonic() > end:
            raise RuntimeError(f"not listening after {deadline_s:.0f} s: {sorted(todo)[:5]}")
        time.sleep(0.01)


def probe(way: str, cells: list[dict], members: dict[str, dict], loop: str, timeout: float) -> list[str]:
    """Every vantage's loop at once; the states in the order of `cells`."""
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(cells):
        groups.setdefault(c["vantage"], []).append(i)
    procs = {}
    for vantage, idx in groups.items():
        targets = []
        for i in idx:
            c = cells[i]
            address = c["address"] or members[c["service"]]["ip"][c["network"]]
            targets.append([address, c["port"]])
        here = [sys.executable, "-I", "-S", "-c", loop, json.dumps(targets), str(timeout)]
        if vantage == "host":
            argv = here
        elif way == "b":
            argv = ["docker", "exec", members[vantage]["id"], "python3", *here[1:]]
        else:
            argv = ["nsenter", "-t", str(members[vantage]["pid"]), "-n", *here]
        procs[vantage] = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    states: list[str] = [""] * len(cells)
    for vantage, p in procs.items():
        out, err = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"probes from {vantage} failed: {err.decode(errors='replace').strip()[-300:]}")
        for i, st in zip(groups[vantage], json.loads(out), strict=True):
            states[i] = st
    return states


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--way", choices=("b", "c"), required=True)
    ap.add_argument("-p", dest="project", required=True)
    ap.add_argument("-f", dest="lab", required=True)
    ap.add_argument("--cells", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    spec = json.loads(Path(args.cells).read_text())
    phases: dict[str, float] = {}
    t = time.perf_counter()
    rc = 2
    try:
        compose(args.project, args.lab, "up", "-d")
        phases["up"], t = time.perf_counter() - t, time.perf_counter()
        members = inspect(args.project, args.lab)
        wait_ready(members, spec["listeners"])
        phases["ready"], t = time.perf_counter() - t, time.perf_counter()
        cells = spec["cells"]
        states = probe(args.way, cells, members, spec["loop"], spec["timeout"])
        rows = [
            {"from": c["vantage"], "to": c["target"], "proto": c["proto"], "state": st, "expected": c["expected"],
             "pass": st in c["accepted"]}
            for c, st in zip(cells, states, strict=True)
        ]  # fmt: skip
        Path(args.out).write_text(json.dumps(rows))
        phases["probe"], t = time.perf_counter() - t, time.perf_counter()
        rc = 0 if all(r["pass"] for r in rows) else 1
    except (RuntimeError, subprocess.CalledProcessError, KeyError, ValueError) as exc:
        print(f"e2e_scripted: {exc}", file=sys.stderr)
    finally:
        try:
            compose(args.project, args.lab, "down", "-t", "0")
        except RuntimeError as exc:
            print(f"e2e_scripted: {exc}", file=sys.stderr)
            if "active endpoints" in str(exc):  # the engine's stale endpoint count (moby#42119): every
                phases["down_refused"] = 1.0  # container is gone, the network stays; recorded, not fatal
            else:
                rc = 2
        phases["down"] = time.perf_counter() - t
        print(json.dumps({"phases": phases}), file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
